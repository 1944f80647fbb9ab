/**
 * Where a sign-in may return to (SPEC S37): the same rule for the routes and the exported helper.
 *
 * @internal
 */
import * as Either from "effect/Either"

const returnToBase = "http://return-to.invalid"

/** The longest `returnTo` kept; longer ones are replaced by the default (the cookie must stay small). */
export const maxReturnToLength = 1024

/** How many rounds of percent-decoding are undone before deciding (`%252e` is `%2e` is `.`). */
const maxDecodeRounds = 4

/** Control characters, which URL parsers drop and browsers may ignore. */
const hasControl = (text: string): boolean => {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20 || code === 0x7f) return true
  }
  return false
}

/** Undoes percent-encoding until it is stable; none when it is malformed or nested too deeply. */
const fullyDecoded = (text: string): string | undefined => {
  let current = text
  for (let round = 0; round <= maxDecodeRounds; round++) {
    if (!/%[0-9a-f]{2}/i.test(current)) return current
    const decoded = Either.try(() => decodeURIComponent(current))
    if (Either.isLeft(decoded)) return undefined
    current = decoded.right
  }
  return undefined
}

/** A path's dot segments resolved (`/a/../b` → `/b`), as a browser resolves them; none when unparsable. */
const resolvedPath = (path: string): string | undefined => {
  if (!URL.canParse(path, returnToBase)) return undefined
  const url = new URL(path, returnToBase)
  return url.origin === returnToBase ? url.pathname : undefined
}

/** A path that a browser reads as another host: `//host`, `/\host`, or anything with a scheme. */
const leavesOrigin = (path: string): boolean => !path.startsWith("/") || path.startsWith("//")

/**
 * A same-site path, checked in every form a browser or a server behind it may read it in: as written,
 * with backslashes read as slashes, percent-decoded (repeatedly, any case of `%2E`/`%2e`), and with dot
 * segments resolved. It is kept only when none of those forms leaves this origin.
 */
const safePath = (input: string): string | undefined => {
  if (input.includes("\\")) return undefined
  const decoded = fullyDecoded(input)
  if (decoded === undefined || hasControl(decoded)) return undefined
  const slashed = decoded.replace(/\\/g, "/")
  for (const form of [input, slashed]) {
    if (leavesOrigin(form)) return undefined
    const resolved = resolvedPath(form)
    if (resolved === undefined || leavesOrigin(resolved)) return undefined
  }
  const url = new URL(input, returnToBase)
  if (url.origin !== returnToBase) return undefined
  const result = url.pathname + url.search + url.hash
  // The result is what the browser is sent to: it must pass the same checks itself.
  if (leavesOrigin(result) || result.includes("\\")) return undefined
  const resultDecoded = fullyDecoded(url.pathname)
  if (resultDecoded === undefined) return undefined
  const resultResolved = resolvedPath(resultDecoded.replace(/\\/g, "/"))
  if (resultResolved === undefined || leavesOrigin(resultResolved) || leavesOrigin(resultDecoded)) return undefined
  return result
}

/**
 * A `returnTo` that cannot leave the application (SPEC S37): a path on this origin after normalisation
 * (dot segments, encoded and back slashes, case), or an absolute http(s) URL on one of `origins`.
 * Anything else gives `fallback`.
 */
export const safeReturnTo = (
  input: string | undefined,
  origins: ReadonlyArray<string>,
  fallback: string
): string => {
  if (input === undefined || input.length === 0 || input.length > maxReturnToLength) return fallback
  if (hasControl(input)) return fallback
  if (input.startsWith("/")) return safePath(input) ?? fallback
  if (input.includes("\\") || !URL.canParse(input)) return fallback
  const url = new URL(input)
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username !== "" || url.password !== "") {
    return fallback
  }
  if (!origins.includes(url.origin)) return fallback
  const path = safePath(url.pathname + url.search + url.hash)
  return path === undefined ? fallback : url.origin + path
}
