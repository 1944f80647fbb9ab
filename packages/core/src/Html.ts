/**
 * Escaping of text placed in HTML pages (the sign-in pages, the loopback login, the fake server's pages).
 *
 * @since 0.1.0
 */

/**
 * Escapes text for HTML content and quoted attribute values: `& < > " ' \``.
 *
 * @since 0.1.0
 * @category utils
 */
export const escape = (text: string): string => text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`)
