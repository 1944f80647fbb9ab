/**
 * Server-side keeping of pending authorizations between `/login` and `/callback` (SPEC S9): `put`
 * after `authorize`, `take` once when the callback arrives. A pending authorization is found by its
 * `state` (stored as a SHA-256 digest, never as the value), lives at most until its `expiresAt`, and
 * can be taken only once, even by two instances racing for it.
 *
 * The memory store lives here; a store on a shared database lives in `@effect-oauth/sql`.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { PendingAuthorizationsError } from "./OAuthError.js"
import type * as PendingAuthorization from "./PendingAuthorization.js"

/**
 * @example
 * ```ts
 * import { PendingAuthorization, PendingAuthorizations } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const pending = new PendingAuthorization.PendingAuthorization({
 *   state: Redacted.make("random-state"),
 *   codeVerifier: Option.none(),
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   issuer: Option.none(),
 *   scopes: ["read"],
 *   createdAt: DateTime.unsafeMake(0),
 *   expiresAt: DateTime.unsafeMake(8.64e15)
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* PendingAuthorizations.PendingAuthorizations
 *   yield* store.put(pending)
 *   const first = yield* store.take("random-state")
 *   const second = yield* store.take("random-state")
 *   return [Option.isSome(first), Option.isSome(second)]
 * })
 * // A state is taken once only.
 * assert.deepStrictEqual(await Effect.runPromise(Effect.provide(program, PendingAuthorizations.layerMemory)), [true, false])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly put: (pending: PendingAuthorization.PendingAuthorization) => Effect.Effect<void, PendingAuthorizationsError>
  /** The pending authorization of `state`, removed in the same step; none when unknown, taken or expired. */
  readonly take: (
    state: string
  ) => Effect.Effect<Option.Option<PendingAuthorization.PendingAuthorization>, PendingAuthorizationsError>
}

/**
 * @example
 * ```ts
 * import { PendingAuthorizations } from "@effect-oauth/core"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* PendingAuthorizations.PendingAuthorizations
 *   return yield* store.take("unknown-state")
 * })
 * assert.ok(Option.isNone(await Effect.runPromise(Effect.provide(program, PendingAuthorizations.layerMemory))))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class PendingAuthorizations extends Context.Tag("@effect-oauth/core/PendingAuthorizations")<
  PendingAuthorizations,
  Service
>() {}

/**
 * The lookup key of a state: BASE64URL(SHA-256(state)), so that a store never holds a usable state
 * as its key.
 *
 * @example
 * ```ts
 * import { PendingAuthorizations } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * const key = await Effect.runPromise(PendingAuthorizations.stateKey("random-state"))
 * assert.strictEqual(key.length, 43)
 * assert.ok(!key.includes("random-state"))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const stateKey = (state: string): Effect.Effect<string> =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(state))).pipe(
    Effect.map((digest) => Encoding.encodeBase64Url(new Uint8Array(digest)))
  )

/**
 * An in-memory store. Expired entries are swept on every `put`, so memory stays bounded by the
 * authorizations started within one lifetime.
 *
 * @example
 * ```ts
 * import { PendingAuthorization, PendingAuthorizations } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const pending = new PendingAuthorization.PendingAuthorization({
 *   state: Redacted.make("random-state"),
 *   codeVerifier: Option.none(),
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   issuer: Option.none(),
 *   scopes: ["read"],
 *   createdAt: DateTime.unsafeMake(0),
 *   expiresAt: DateTime.unsafeMake(8.64e15)
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* PendingAuthorizations.makeMemory
 *   yield* store.put(pending)
 *   return yield* store.take("random-state")
 * })
 * assert.deepStrictEqual(Option.map(await Effect.runPromise(program), (p) => p.scopes), Option.some(["read"]))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.sync(() => {
  const entries = new Map<string, PendingAuthorization.PendingAuthorization>()
  const sweep = (now: number) => {
    for (const [key, pending] of entries) {
      if (DateTime.toEpochMillis(pending.expiresAt) <= now) entries.delete(key)
    }
  }
  return {
    put: (pending) =>
      Effect.flatMap(
        Effect.zip(stateKey(Redacted.value(pending.state)), Clock.currentTimeMillis),
        ([key, now]) =>
          Effect.sync(() => {
            sweep(now)
            entries.set(key, pending)
          })
      ),
    take: (state) =>
      Effect.flatMap(Effect.zip(stateKey(state), Clock.currentTimeMillis), ([key, now]) =>
        Effect.sync(() => {
          const pending = entries.get(key)
          entries.delete(key)
          return pending === undefined || DateTime.toEpochMillis(pending.expiresAt) <= now
            ? Option.none()
            : Option.some(pending)
        }))
  }
})

/**
 * @example
 * ```ts
 * import { PendingAuthorization, PendingAuthorizations } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const pending = new PendingAuthorization.PendingAuthorization({
 *   state: Redacted.make("random-state"),
 *   codeVerifier: Option.none(),
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   issuer: Option.none(),
 *   scopes: ["read"],
 *   createdAt: DateTime.unsafeMake(0),
 *   expiresAt: DateTime.unsafeMake(8.64e15)
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* PendingAuthorizations.PendingAuthorizations
 *   yield* store.put(pending)
 *   return yield* store.take("random-state")
 * }).pipe(Effect.provide(PendingAuthorizations.layerMemory))
 * assert.ok(Option.isSome(await Effect.runPromise(program)))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<PendingAuthorizations> = Layer.effect(PendingAuthorizations, makeMemory)
