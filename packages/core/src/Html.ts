/**
 * Escaping of text placed in HTML pages (the sign-in pages, the loopback login, the fake server's pages).
 *
 * @since 0.1.0
 */

/**
 * Escapes text for HTML content and quoted attribute values: `& < > " ' \``.
 *
 * @example
 * ```ts
 * import { Html } from "@effect-oauth/core"
 *
 * assert.strictEqual(Html.escape("<b>Tom & \"Jerry\"</b>"), "&#60;b&#62;Tom &#38; &#34;Jerry&#34;&#60;/b&#62;")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const escape = (text: string): string => text.replace(/[&<>"'`]/g, (c) => `&#${c.charCodeAt(0)};`)
