import * as Arr from "effect/Array"
import * as Encoding from "effect/Encoding"
import type * as ParseResult from "effect/ParseResult"

/** The longest server- or user-chosen text kept in an error (SPEC S34). */
export const maxTextLength = 512

/** The longest key or other user-supplied value quoted in a message. */
export const maxQuotedLength = 64

// C0 and C1 controls, DEL, and the Unicode line/paragraph separators and bidirectional overrides.
// Matching control characters is this pattern's purpose (S34: they are stripped from server text).
// eslint-disable-next-line no-control-regex
const controls = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g

/** Removes control characters. */
export const stripControls = (text: string): string => text.replace(controls, "")

/** Cuts `text` to `max` UTF-16 units, without splitting a surrogate pair, marking the cut. */
export const truncate = (text: string, max: number): string => {
  if (text.length <= max) return text
  let end = max
  const last = text.charCodeAt(end - 1)
  if (last >= 0xd800 && last <= 0xdbff) end--
  return `${text.slice(0, end)}…`
}

/**
 * A user-supplied value in bounded form for a message: JSON-quoted, control characters escaped by the
 * quoting, at most `max` characters of it, and its length when it was cut.
 */
export const quote = (value: string, max: number = maxQuotedLength): string =>
  value.length <= max ? JSON.stringify(value) : `${JSON.stringify(truncate(value, max))} (${value.length} characters)`

const formEncode = (value: string): string =>
  encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+")

/** Every form in which a secret may travel in a request and be echoed back (SPEC S34). */
const encodings = (secret: string): ReadonlyArray<string> => {
  const bytes = new TextEncoder().encode(secret)
  return [
    secret,
    formEncode(secret),
    encodeURIComponent(secret),
    Encoding.encodeBase64(bytes),
    Encoding.encodeBase64(bytes).replace(/=+$/, ""),
    Encoding.encodeBase64Url(bytes)
  ]
}

const percentDecode = (text: string): string =>
  text.replace(/\+/g, " ").replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = new Uint8Array(run.length / 3)
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(run.slice(i * 3 + 1, i * 3 + 3), 16)
    return new TextDecoder("utf-8", { fatal: false }).decode(bytes)
  })

/** What replaces a secret found in a server-chosen text. */
export const redactedMark = "<redacted>"

/** What replaces a server-chosen text that still quotes a secret after scrubbing. */
export const withheldMark = "<withheld: it quoted the request>"

/**
 * A server-chosen text made safe for a message, a log line or a span (SPEC S34): control characters
 * stripped, every secret of the request (and its form, URL and Base64 encodings) replaced, then cut to
 * `maxTextLength`. A text that still holds a secret in another spelling (case of the percent escapes,
 * mixed encodings) is withheld as a whole.
 */
export const sanitize = (value: unknown, secrets: ReadonlyArray<string> = []): string | undefined => {
  if (typeof value !== "string") return undefined
  // Scrubbed whole, then cut: a cut first could split a secret and leave a part of it to show. The text
  // is at most a response body (1 MiB) or a callback (64 KiB).
  let text = stripControls(value)
  const forms = secrets.filter((secret) => secret.length > 0).flatMap(encodings).filter((form) => form.length > 0)
    .sort((a, b) => b.length - a.length)
  for (const form of forms) text = text.split(form).join(redactedMark)
  if (forms.length > 0) {
    const views = [text.toLowerCase(), percentDecode(text), percentDecode(text).toLowerCase()]
    const lowered = forms.map((form) => form.toLowerCase())
    if (views.some((view) => lowered.some((form) => view.includes(form)))) return withheldMark
  }
  return truncate(text, maxTextLength)
}

/** The most issues a decode error lists, and the deepest path it names. */
const maxIssues = 10
const maxPathLength = 8
const maxSteps = 10_000

const pathSegment = (key: PropertyKey): string =>
  typeof key === "number" ? `[${key}]` : typeof key === "symbol" ? "[symbol]" : /^[A-Za-z_$][\w$-]{0,63}$/.test(key)
    ? key
    : `[${quote(key, 32)}]`

const renderPath = (path: ReadonlyArray<PropertyKey>): string => {
  const shown = path.slice(0, maxPathLength).map(pathSegment)
  const text = shown.map((segment, i) => i === 0 || segment.startsWith("[") ? segment : `.${segment}`).join("")
  return path.length > maxPathLength ? `${text}…` : text
}

/**
 * The issues of a decode error as "path is missing" / "path is invalid", naming paths and never values
 * (SPEC S34). It walks the issue tree without recursion and without formatting any value, so it runs in
 * bounded time and stack for input of any size, shape or depth; at most 10 issues are listed.
 */
export const parseIssues = (error: ParseResult.ParseError, root: string): ReadonlyArray<string> => {
  const out = new Set<string>()
  const stack: Array<readonly [ParseResult.ParseIssue, ReadonlyArray<PropertyKey>]> = [[error.issue, []]]
  let steps = 0
  let more = false
  for (let next = stack.pop(); next !== undefined; next = stack.pop()) {
    if (++steps > maxSteps || out.size >= maxIssues) {
      more = true
      break
    }
    const [issue, path] = next
    switch (issue._tag) {
      case "Pointer": {
        const segment = Array.isArray(issue.path) ? issue.path : [issue.path]
        stack.push([issue.issue, path.length > maxPathLength ? path : [...path, ...segment]])
        break
      }
      case "Composite": {
        const children: ReadonlyArray<ParseResult.ParseIssue> = Arr.ensure(issue.issues)
        for (let i = children.length - 1; i >= 0; i--) {
          const child = children[i]
          if (child !== undefined) stack.push([child, path])
        }
        break
      }
      case "Refinement":
      case "Transformation":
        stack.push([issue.issue, path])
        break
      case "Missing":
        out.add(`${path.length === 0 ? root : renderPath(path)} is missing`)
        break
      case "Unexpected":
        out.add(`${path.length === 0 ? root : renderPath(path)} is not allowed`)
        break
      case "Type":
      case "Forbidden":
        out.add(`${path.length === 0 ? root : renderPath(path)} is invalid`)
        break
    }
  }
  const issues = Array.from(out)
  if (issues.length === 0) issues.push(`${root} is invalid`)
  if (more) issues.push("…")
  return issues
}
