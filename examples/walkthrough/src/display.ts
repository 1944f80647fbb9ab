/**
 * Terminal output of the walkthrough: numbered steps, redacted secrets, and checks that turn the demo
 * into a smoke test. Colors only on a TTY (and never with NO_COLOR).
 */
import * as Console from "effect/Console"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"

const useColor = process.stdout.isTTY === true && process.env.NO_COLOR === undefined

const paint = (code: number) => (text: string): string => useColor ? `\x1b[${code}m${text}\x1b[0m` : text

export const bold = paint(1)
export const dim = paint(2)
export const red = paint(31)
export const green = paint(32)
export const cyan = paint(36)

/** A token or secret as a prefix of at most 6 characters followed by `…`; never more. */
export const redact = (secret: string | Redacted.Redacted<string>, length = 6): string => {
  const value = Redacted.isRedacted(secret) ? Redacted.value(secret) : secret
  return `${value.slice(0, Math.min(length, 6))}…`
}

/** A URL with the values of the `secret` query parameters redacted. */
export const showUrl = (url: URL, secret: ReadonlyArray<string>): string => {
  const query = Array.from(
    url.searchParams,
    ([name, value]) =>
      secret.includes(name) ? `${name}=${redact(value)}` : new URLSearchParams([[name, value]]).toString()
  ).join("&")
  return `${url.origin}${url.pathname}${query === "" ? "" : `?${query}`}`
}

/** A numbered heading, then its detail lines, indented. */
export const step = (n: number, title: string, lines: ReadonlyArray<string>): Effect.Effect<void> =>
  Console.log(["", bold(cyan(`${n}. ${title}`)), ...lines.map((line) => `   ${line}`)].join("\n"))

/** What a step claimed turned out to be false. */
export class WalkthroughCheckFailed extends Data.TaggedError("WalkthroughCheckFailed")<{
  readonly message: string
}> {}

export const check = (ok: boolean, message: string): Effect.Effect<void, WalkthroughCheckFailed> =>
  ok ? Effect.void : new WalkthroughCheckFailed({ message })
