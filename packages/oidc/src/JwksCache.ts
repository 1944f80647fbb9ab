/**
 * The provider's JSON Web Key Set, fetched once and shared by every fiber (SPEC S32: one deadline over
 * the whole exchange, a bounded body). When an ID Token names a key the set does not have (the provider
 * rotated its keys), the set is fetched again, once: concurrent callers share that fetch, and a new
 * fetch is never sent sooner than `cooldown` after the last one, so a flood of tokens with unknown key
 * ids cannot make it fetch in a loop.
 *
 * Keys are parsed and used by `jose`.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as SynchronizedRef from "effect/SynchronizedRef"
import * as Jose from "jose"
import * as Fetch from "./internal/fetch.js"
import { JwksError } from "./OidcError.js"

/**
 * A key set as `jose` uses it: it picks the key for a JWS header by `kid`, `alg` and key type.
 *
 * @example
 * ```ts
 * import { JwksCache } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 * import * as Jose from "jose"
 *
 * // Verifies a JWS with the provider's current keys.
 * const verify = (jws: string) =>
 *   Effect.flatMap(JwksCache.JwksCache, (cache) => cache.get).pipe(
 *     Effect.flatMap((keys: JwksCache.KeySet) => Effect.promise(() => Jose.compactVerify(jws, keys)))
 *   )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type KeySet = Jose.LocalJWKSet

/**
 * @example
 * ```ts
 * import { JwksCache } from "@effect-oauth/oidc"
 *
 * const options: JwksCache.Options = {
 *   uri: "https://op.example/jwks",
 *   timeout: "5 seconds",
 *   cooldown: "1 minute",
 *   maxAge: "1 hour"
 * }
 * const JwksLive = JwksCache.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The provider's `jwks_uri`. */
  readonly uri: string | URL
  /** The deadline of one fetch, body included; default 30 seconds (SPEC S32). */
  readonly timeout?: Duration.DurationInput | undefined
  /** The largest key set read; default 1 MiB. */
  readonly maxBytes?: number | undefined
  /** No fetch is sent sooner than this after the previous one; default 30 seconds. */
  readonly cooldown?: Duration.DurationInput | undefined
  /** A set older than this is fetched again before use (the old one serves if that fails); default 10 minutes. */
  readonly maxAge?: Duration.DurationInput | undefined
}

/**
 * @example
 * ```ts
 * import { JwksCache } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * // A key the current set lacks: ask once for a newer set (shared with concurrent callers, rate limited).
 * const newer = Effect.gen(function*() {
 *   const cache: JwksCache.Service = yield* JwksCache.JwksCache
 *   const current = yield* cache.get
 *   return yield* cache.refresh(current)
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly uri: URL
  /**
   * The current key set, fetched on first use and when it is older than `maxAge`. When a fetch fails,
   * the next one waits for the cooldown: until then the last error is answered.
   */
  readonly get: Effect.Effect<KeySet, JwksError>
  /**
   * A newer key set than `stale`, for a JWS whose key `stale` lacks: answers the set another fiber
   * fetched meanwhile, or fetches it now unless the last fetch was less than `cooldown` ago (then the
   * current set is answered).
   */
  readonly refresh: (stale: KeySet) => Effect.Effect<KeySet, JwksError>
  /** How many fetches were sent. */
  readonly fetches: Effect.Effect<number>
}

/**
 * @example
 * ```ts
 * import { JwksCache } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * const fetches = Effect.flatMap(JwksCache.JwksCache, (cache) => cache.fetches)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class JwksCache extends Context.Tag("@effect-oauth/oidc/JwksCache")<JwksCache, Service>() {}

interface State {
  readonly set: Option.Option<KeySet>
  /** When the current set was fetched (epoch ms). */
  readonly fetchedAt: number
  /** When the last fetch was sent, successful or not (epoch ms); `-Infinity` before the first. */
  readonly attemptedAt: number
  readonly fetches: number
  readonly lastError: Option.Option<JwksError>
}

const parseKeySet = (json: Readonly<Record<string, unknown>>): Option.Option<KeySet> => {
  if (!Array.isArray(json.keys)) return Option.none()
  try {
    return Option.some(Jose.createLocalJWKSet({ keys: json.keys }))
  } catch {
    return Option.none()
  }
}

/**
 * @example
 * ```ts
 * import { JwksCache } from "@effect-oauth/oidc"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A provider faked in memory, with an empty key set.
 * const provider = HttpClient.make((request) =>
 *   Effect.succeed(HttpClientResponse.fromWeb(request, Response.json({ keys: [] })))
 * )
 * const program = Effect.gen(function*() {
 *   const cache = yield* JwksCache.make({ uri: "https://op.example/jwks" })
 *   yield* cache.get
 *   yield* cache.get // served from the cache
 *   return yield* cache.fetches
 * }).pipe(Effect.provideService(HttpClient.HttpClient, provider))
 * assert.strictEqual(await Effect.runPromise(program), 1)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Service, never, HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const uri = new URL(options.uri)
    const timeout = options.timeout ?? Fetch.defaultTimeout
    const cooldown = Duration.toMillis(options.cooldown ?? Duration.seconds(30))
    const maxAge = Duration.toMillis(options.maxAge ?? Duration.minutes(10))
    const ref = yield* SynchronizedRef.make<State>({
      set: Option.none(),
      fetchedAt: Number.NEGATIVE_INFINITY,
      attemptedAt: Number.NEGATIVE_INFINITY,
      fetches: 0,
      lastError: Option.none()
    })

    const fail = (failure: Fetch.Failure | { readonly reason: "InvalidKeySet"; readonly status?: number }) =>
      new JwksError({
        url: uri.href,
        reason: failure.reason,
        ...(failure.status === undefined ? {} : { status: failure.status })
      })

    const fetchSet: Effect.Effect<KeySet, JwksError> = Fetch.getJson(client, uri, {
      endpoint: "jwks",
      timeout,
      maxBytes: options.maxBytes
    }).pipe(
      Effect.mapError(fail),
      Effect.flatMap((document) => {
        if (document.status !== 200) return Effect.fail(fail({ reason: "Status", status: document.status }))
        return Option.match(Option.flatMap(document.json, parseKeySet), {
          onNone: () => Effect.fail(fail({ reason: "InvalidKeySet", status: 200 })),
          onSome: Effect.succeed
        })
      }),
      Effect.withSpan("JwksCache.fetch", { attributes: { "oidc.jwks_uri": uri.href } })
    )

    type Outcome = readonly [Either.Either<KeySet, JwksError>, State]

    /** Fetches under the lock, recording the attempt whatever its outcome. */
    const fetchInto = (state: State, now: number): Effect.Effect<Outcome> =>
      Effect.map(Effect.either(fetchSet), (result): Outcome => {
        const attempted = { ...state, attemptedAt: now, fetches: state.fetches + 1 }
        return Either.match(result, {
          onLeft: (error): Outcome => [result, { ...attempted, lastError: Option.some(error) }],
          onRight: (set): Outcome => [result, { ...attempted, set: Option.some(set), fetchedAt: now }]
        })
      })

    const keep = (state: State, set: KeySet): Effect.Effect<Outcome> => Effect.succeed([Either.right(set), state])

    const locked = (f: (state: State, now: number) => Effect.Effect<Outcome>): Effect.Effect<KeySet, JwksError> =>
      Effect.flatten(
        SynchronizedRef.modifyEffect(ref, (state) => Effect.flatMap(Clock.currentTimeMillis, (now) => f(state, now)))
      )

    const get: Effect.Effect<KeySet, JwksError> = Effect.flatMap(
      Effect.zip(SynchronizedRef.get(ref), Clock.currentTimeMillis),
      ([state, now]) =>
        Option.isSome(state.set) && now - state.fetchedAt < maxAge
          ? Effect.succeed(state.set.value)
          : locked((current, now) => {
            if (Option.isNone(current.set)) {
              // No set yet and the last fetch failed: not again before the cooldown, whatever the traffic.
              return Option.isSome(current.lastError) && now - current.attemptedAt < cooldown
                ? Effect.succeed([Either.left(current.lastError.value), current])
                : fetchInto(current, now)
            }
            const set = current.set.value
            if (now - current.fetchedAt < maxAge || now - current.attemptedAt < cooldown) return keep(current, set)
            // A stale set still serves when fetching a new one fails.
            return Effect.map(
              fetchInto(current, now),
              ([result, next]): Outcome => [Either.orElse(result, () => Either.right(set)), next]
            )
          })
    )

    const refresh = (stale: KeySet): Effect.Effect<KeySet, JwksError> =>
      locked((current, now) => {
        if (Option.isSome(current.set) && current.set.value !== stale) return keep(current, current.set.value)
        if (now - current.attemptedAt < cooldown) {
          return Option.isSome(current.set)
            ? keep(current, current.set.value)
            : Effect.succeed([
              Either.left(Option.getOrElse(current.lastError, () => fail({ reason: "Transport" }))),
              current
            ])
        }
        return fetchInto(current, now)
      })

    return JwksCache.of({
      uri,
      get,
      refresh,
      fetches: Effect.map(SynchronizedRef.get(ref), (state) => state.fetches)
    })
  })

/**
 * @example
 * ```ts
 * import { JwksCache } from "@effect-oauth/oidc"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer } from "effect"
 *
 * const JwksLive = JwksCache.layer({ uri: "https://op.example/jwks" }).pipe(Layer.provide(FetchHttpClient.layer))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<JwksCache, never, HttpClient.HttpClient> =>
  Layer.effect(JwksCache, make(options))
