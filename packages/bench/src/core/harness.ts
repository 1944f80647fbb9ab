/**
 * Shared pieces of the benchmarks: rows of the result table, medians, timing, heap readings and
 * realistic token sets.
 */
import { TokenSet } from "@effect-oauth/core"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"

/** One line of the printed table. `ok` is absent for rows without a target. */
export interface Row {
  readonly name: string
  readonly result: string
  readonly target?: string | undefined
  readonly ok?: boolean | undefined
}

/** A benchmark's rows, and whether it found a correctness failure (which makes the script exit 1). */
export interface Report {
  readonly rows: ReadonlyArray<Row>
  readonly failure?: string | undefined
}

export const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? sorted[middle] ?? Number.NaN
    : ((sorted[middle - 1] ?? Number.NaN) + (sorted[middle] ?? Number.NaN)) / 2
}

/** Runs `effect` and returns how long it took in nanoseconds (real clock, `Effect.timed`). */
export const nanos = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<readonly [number, A], E, R> =>
  Effect.map(Effect.timed(effect), ([duration, a]) => [Number(Duration.unsafeToNanos(duration)), a])

/**
 * `n` runs of `body()` one after the other inside one effect, with `Effect.whileLoop` (the cheapest
 * loop the runtime has), so that what is left per iteration is `body` itself.
 */
export const loop = <A, E, R>(n: number, body: () => Effect.Effect<A, E, R>): Effect.Effect<void, E, R> =>
  Effect.suspend(() => {
    let i = 0
    return Effect.whileLoop({ while: () => i < n, body, step: () => void i++ })
  })

const collect = Effect.sync(() => globalThis.gc?.())

/**
 * The V8 heap in use, in bytes, after full garbage collections with a few event-loop turns between
 * them (so that finalization callbacks run). Needs `node --expose-gc`.
 */
export const heapUsed: Effect.Effect<number> = Effect.gen(function*() {
  for (let i = 0; i < 3; i++) {
    yield* collect
    yield* Effect.sleep(Duration.millis(10))
  }
  yield* collect
  return process.memoryUsage().heapUsed
})

/**
 * A token as long as the fake server's default ones: a prefix and 32 random bytes in base64url (46
 * characters), as one flat string like those `JSON.parse` produces (not a concatenation).
 */
export const randomToken = (prefix: string): string =>
  Buffer.concat([Buffer.from(prefix, "latin1"), Buffer.from(randomBytes(32).toString("base64url"), "latin1")])
    .toString("latin1")

/**
 * A token set as an exchange or a refresh produces it: 46-character access and refresh tokens, the
 * access token expiring `expiresInMillis` after `now` (issued `lifetimeMillis` before it expires), a refresh token good for 30 days, one scope (a
 * new array each time, as decoding a response gives).
 */
export const makeTokens = (
  now: number,
  expiresInMillis: number,
  refreshToken: string = randomToken("rt_"),
  accessToken: string = randomToken("at_"),
  /** How long the access token lives in all: it was issued this long before it expires. */
  lifetimeMillis: number = expiresInMillis
): TokenSet.TokenSet =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(accessToken),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(refreshToken)),
    expiresAt: DateTime.unsafeMake(now + expiresInMillis),
    refreshExpiresAt: Option.some(DateTime.unsafeMake(now + Duration.toMillis(Duration.days(30)))),
    issuedAt: DateTime.unsafeMake(now + expiresInMillis - lifetimeMillis),
    scopes: ["api:agent:message:*"]
  }, true) // valid by construction: skip the schema check, which would dominate the setup time

const group = (value: number, digits: number): string =>
  value.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }).replace(/,/g, " ")

/** `1 234` or `1.5` (one decimal below 10). */
export const num = (value: number): string => group(value, Math.abs(value) < 10 ? 1 : 0)

export const fixed = (value: number, digits: number): string => group(value, digits)

/** Formats the table with fixed columns. */
export const table = (rows: ReadonlyArray<Row>): string => {
  const widths = [56, 26, 16] as const
  const line = (cells: readonly [string, string, string, string]) =>
    (cells[0].padEnd(widths[0]) + cells[1].padEnd(widths[1]) + cells[2].padEnd(widths[2]) + cells[3]).trimEnd()
  return [
    line(["benchmark", "result", "target", "ok"]),
    ...rows.map((row) =>
      line([row.name, row.result, row.target ?? "", row.ok === undefined ? "" : row.ok ? "yes" : "NO"])
    )
  ].join("\n")
}
