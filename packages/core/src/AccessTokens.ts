/**
 * "A valid access token for key K", from any number of fibers and processes, without ever sending a
 * rotated refresh token (SPEC S17–S25).
 *
 * - A fresh token is answered from memory, with no store I/O and no lock.
 * - A refresh runs once per key in this process (single flight), under the store's per-key lock
 *   across processes; after taking the lock it re-reads the store and refreshes only with the refresh
 *   token the store holds now, or adopts what another process stored meanwhile.
 * - New tokens are stored before any caller sees them; a failed write is retried, and if it still
 *   fails the tokens stay in memory and keep being used.
 * - A refresh in flight finishes and is stored even if every caller waiting on it is interrupted.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Runtime from "effect/Runtime"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Policy from "./internal/refreshPolicy.js"
import * as SingleFlight from "./internal/singleFlight.js"
import * as TokenCache from "./internal/tokenCache.js"
import * as TokenFlight from "./internal/tokenFlight.js"
import { OAuthClient } from "./OAuthClient.js"
import { OAuthConfig } from "./OAuthConfig.js"
import {
  type ErrorResponse,
  type HttpError,
  type InvalidIdToken,
  type InvalidTokenResponse,
  ReauthorizationRequired,
  RefreshOutcomeUnknown,
  TokenStoreError
} from "./OAuthError.js"
import type * as TokenSet from "./TokenSet.js"
import { TokenStore } from "./TokenStore.js"

/**
 * What `get` can fail with.
 *
 * @example
 * ```ts
 * import { type AccessTokens, OAuthError } from "@effect-oauth/core"
 *
 * const answer = (error: AccessTokens.GetError): string =>
 *   error._tag === "ReauthorizationRequired" ? "redirect to /login" : "try again later"
 * assert.strictEqual(answer(new OAuthError.ReauthorizationRequired({ reason: "no-tokens" })), "redirect to /login")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type GetError =
  | ReauthorizationRequired
  | RefreshOutcomeUnknown
  | ErrorResponse
  | HttpError
  | InvalidTokenResponse
  | InvalidIdToken
  | TokenStoreError

/**
 * @example
 * ```ts
 * import { AccessTokens } from "@effect-oauth/core"
 *
 * // Every caller whose token is due waits for the refresh, which starts two minutes before expiry.
 * const options: AccessTokens.Options = { refreshMode: "blocking", refreshWindow: "2 minutes", cacheCapacity: 10_000 }
 * const layer = AccessTokens.layer(options)
 * void layer
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Refresh this long before expiry; default: `OAuthConfig.refreshWindow` (60 seconds). */
  readonly refreshWindow?: Duration.DurationInput | undefined
  /** The lease of the store lock around a refresh; default: twice the request timeout plus 10 seconds. */
  readonly lockLease?: Duration.DurationInput | undefined
  /** How failed store writes of new tokens are retried; default: 5 tries, exponential from 50 ms. */
  readonly writeRetry?: Schedule.Schedule<unknown, unknown> | undefined
  /**
   * When the server keeps a grace window for rotated refresh tokens, a refresh whose answer was lost
   * is retried once (SPEC S22). Default: off, the outcome-unknown error is returned.
   */
  readonly retryLostRefresh?: boolean | undefined
  /** At most this many keys are cached; the least recently used leave first. Default: 100 000. */
  readonly cacheCapacity?: number | undefined
  /**
   * `background` (default): a caller whose token is still valid for longer than `minValidity` gets it
   * at once while one refresh runs in the background (SPEC S43). `blocking`: every caller whose token
   * is due waits for the refresh.
   */
  readonly refreshMode?: "background" | "blocking" | undefined
  /** With background refresh, callers whose token expires sooner than this wait. Default: the request timeout plus 5 seconds. */
  readonly minValidity?: Duration.DurationInput | undefined
}

/**
 * @example
 * ```ts
 * import { AccessTokens, OAuthClient, type OAuthConfig, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { DateTime, Effect, Layer, Option, Redacted } from "effect"
 *
 * // A fake token endpoint: every token request is answered with new tokens.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(
 *         JSON.stringify({ access_token: "at-1", token_type: "Bearer", expires_in: 3600, refresh_token: "rt-1" }),
 *         { headers: { "content-type": "application/json" } }
 *       )
 *     )
 *   )
 * )
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read"]
 * }
 * const Tokens = AccessTokens.layer().pipe(
 *   Layer.provide(Layer.merge(OAuthClient.layerWithConfig(options), TokenStore.layerMemory)),
 *   Layer.provide(Layer.succeed(HttpClient.HttpClient, server))
 * )
 * // The tokens of a sign-in whose access token has just expired.
 * const signedIn = Effect.map(DateTime.now, (now) =>
 *   new TokenSet.TokenSet({
 *     accessToken: Redacted.make("at-0"),
 *     tokenType: "Bearer",
 *     refreshToken: Option.some(Redacted.make("rt-0")),
 *     expiresAt: now,
 *     refreshExpiresAt: Option.none(),
 *     issuedAt: DateTime.subtract(now, { hours: 1 }),
 *     scopes: ["read"]
 *   }))
 *
 * const program = Effect.gen(function*() {
 *   const tokens: AccessTokens.Service = yield* AccessTokens.AccessTokens
 *   yield* tokens.save("user-1", yield* signedIn)
 *   // Due: `get` refreshes once and stores the new tokens before answering.
 *   const token = yield* tokens.get("user-1")
 *   return Redacted.value(token)
 * })
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, Tokens)), "at-1")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Keeps the tokens of a new sign-in (after `exchange`) under `key`, replacing what was there. */
  readonly save: (key: string, tokens: TokenSet.TokenSet) => Effect.Effect<void, TokenStoreError>
  /** A valid access token for `key`, refreshing it when it is due (SPEC S19–S24). */
  readonly get: (key: string) => Effect.Effect<Redacted.Redacted<string>, GetError>
  /** The whole valid token set for `key` (expiry, scopes), refreshing it when it is due. */
  readonly tokens: (key: string) => Effect.Effect<TokenSet.TokenSet, GetError>
  /**
   * The API rejected `accessToken`: the next `get` refreshes, unless the key already holds another
   * token (SPEC S25).
   */
  readonly invalidate: (key: string, accessToken: Redacted.Redacted<string>) => Effect.Effect<void>
  /**
   * Revokes the refresh token where a revocation endpoint is known, then removes the stored tokens
   * (SPEC S30). A failed revocation keeps the tokens, so that it can be tried again.
   */
  readonly signOut: (
    key: string
  ) => Effect.Effect<"revoked" | "unsupported" | "no-tokens", TokenStoreError | ErrorResponse | HttpError>
  /**
   * The access token of `key` when it is fresh at `now` (epoch milliseconds), read from memory
   * without running any effect; `undefined` otherwise. For Promise-facing edges ({@link supplier}).
   */
  readonly unsafeFresh?: ((key: string, now: number) => Redacted.Redacted<string> | undefined) | undefined
}

/**
 * The service tag: a program asks for it, and `layer` provides it.
 *
 * @example
 * ```ts
 * import { AccessTokens } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // A program that needs a valid access token for one user; provide `AccessTokens.layer()` to run it.
 * const accessToken = Effect.gen(function*() {
 *   const tokens = yield* AccessTokens.AccessTokens
 *   return Redacted.value(yield* tokens.get("user-1"))
 * })
 * void accessToken
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class AccessTokens extends Context.Tag("@effect-oauth/core/AccessTokens")<AccessTokens, Service>() {}

/**
 * Refresh token requests sent by `AccessTokens`, counted as each one is sent.
 *
 * @example
 * ```ts
 * import { AccessTokens } from "@effect-oauth/core"
 * import { Effect, Metric } from "effect"
 *
 * // A counter: read it, or export it with the rest of the application's metrics.
 * const state = Effect.runSync(Metric.value(AccessTokens.refreshCounter))
 * assert.strictEqual(typeof state.count, "number")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const refreshCounter = Metric.counter("effect_oauth_refreshes_total", {
  description: "Refresh token requests sent by AccessTokens",
  incremental: true
})

/**
 * Keys whose grant ended, so that their user has to sign in again.
 *
 * @example
 * ```ts
 * import { AccessTokens } from "@effect-oauth/core"
 * import { Effect, Metric } from "effect"
 *
 * // A counter: read it, or export it with the rest of the application's metrics.
 * const state = Effect.runSync(Metric.value(AccessTokens.reauthorizationCounter))
 * assert.strictEqual(typeof state.count, "number")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const reauthorizationCounter = Metric.counter("effect_oauth_reauthorizations_total", {
  description: "Keys that need a new sign-in",
  incremental: true
})

/**
 * The service in a scope of its own; background refreshes run in that scope.
 *
 * @example
 * ```ts
 * import { AccessTokens, OAuthClient, type OAuthConfig, TokenStore } from "@effect-oauth/core"
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read"]
 * }
 * // A key without tokens sends no request: its user has to sign in.
 * const server = HttpClient.make(() => Effect.die("no request is expected"))
 * const program = Effect.gen(function*() {
 *   const tokens = yield* AccessTokens.make({ refreshMode: "blocking" })
 *   const missing = yield* Effect.flip(tokens.get("nobody"))
 *   return missing._tag
 * }).pipe(
 *   Effect.scoped,
 *   Effect.provide(Layer.merge(OAuthClient.layerWithConfig(options), TokenStore.layerMemory)),
 *   Effect.provide(Layer.succeed(HttpClient.HttpClient, server))
 * )
 * assert.strictEqual(await Effect.runPromise(program), "ReauthorizationRequired")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, never, OAuthClient | OAuthConfig | TokenStore | Scope.Scope> =>
  Effect.gen(function*() {
    const client = yield* OAuthClient
    const config = yield* OAuthConfig
    const store = yield* TokenStore
    const settings: Policy.Settings = { window: Duration.toMillis(options.refreshWindow ?? config.refreshWindow) }
    const lease = options.lockLease ?? Duration.sum(Duration.times(config.requestTimeout, 2), Duration.seconds(10))
    // Writes are retried while we hold the (renewed) lock, for at most one lease (S18, S45).
    const writeRetry = options.writeRetry ??
      Schedule.exponential(Duration.millis(50)).pipe(
        Schedule.union(Schedule.spaced(Duration.seconds(1))),
        Schedule.upTo(lease)
      )
    const cache = TokenCache.make(options.cacheCapacity ?? 100_000)
    const flights = SingleFlight.make<TokenSet.TokenSet, GetError>(yield* Effect.scope)
    const { flight, remember } = TokenFlight.make({
      client,
      store,
      cache,
      settings,
      lease,
      writeRetry,
      retryLostRefresh: options.retryLostRefresh === true,
      refreshCounter,
      reauthorizationCounter,
      errors: { ReauthorizationRequired, RefreshOutcomeUnknown, TokenStoreError }
    })

    const slow = Effect.fn("AccessTokens.get")(function*(key: string) {
      yield* Effect.annotateCurrentSpan("oauth.key", key)
      return yield* flights.join(key, flight(key))
    })

    /** The tokens for `key` from the flight in progress or a new one. */
    const lookup = (key: string): Effect.Effect<TokenSet.TokenSet, GetError> => {
      // Callers arriving while a refresh is in flight just wait for it, without a span of their own.
      const inFlight = flights.current(key)
      return inFlight !== undefined ? Deferred.await(inFlight) : slow(key)
    }

    const background = (options.refreshMode ?? "background") === "background"
    const minValidity = Duration.toMillis(
      options.minValidity ?? Duration.sum(config.requestTimeout, Duration.seconds(5))
    )

    /** A refresh started for callers who do not wait for it (S43); its failure leaves the current token in use. */
    const refreshInBackground = (key: string) =>
      flights.start(key, () =>
        flight(key).pipe(
          Effect.tapError(() =>
            Effect.logWarning("effect-oauth: background refresh failed; the current token stays in use").pipe(
              Effect.annotateLogs("oauth.key", key)
            )
          )
        ))

    /**
     * What memory can answer at once: fresh tokens; with background refresh, tokens valid for longer
     * than `minValidity` while a refresh starts (S43); a possibly-spent key's access token while valid (S44).
     */
    const answer = (
      key: string,
      fiber: Fiber.RuntimeFiber<unknown, unknown>
    ):
      | { readonly tokens: TokenSet.TokenSet; readonly success: Effect.Effect<Redacted.Redacted<string>> }
      | undefined =>
    {
      const entry = cache.get(key)
      if (entry === undefined || entry._tag === "Rejected") return undefined
      const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
      if (entry._tag === "Dead") {
        return entry.tokens !== undefined && entry.success !== undefined && now < entry.until
          ? { tokens: entry.tokens, success: entry.success }
          : undefined
      }
      if (now < entry.refreshAt) return entry
      return background && now < entry.tokens.expiresAt.epochMillis - minValidity
        ? { tokens: entry.tokens, success: Effect.zipRight(refreshInBackground(key), entry.success) }
        : undefined
    }

    // The hot path: one step, reading the fiber's own clock (a TestClock in tests) without a generator.
    const get = (key: string): Effect.Effect<Redacted.Redacted<string>, GetError> =>
      Effect.withFiberRuntime((fiber) => {
        const found = answer(key, fiber)
        return found !== undefined ? found.success : Effect.map(lookup(key), (tokens) => tokens.accessToken)
      })

    const tokens = (key: string): Effect.Effect<TokenSet.TokenSet, GetError> =>
      Effect.withFiberRuntime((fiber) => {
        const found = answer(key, fiber)
        return found === undefined ? lookup(key) : Effect.as(found.success, found.tokens)
      })

    /** The fresh access token of `key` at `now`, without any effect: for the Promise supplier. */
    const unsafeFresh = (key: string, now: number): Redacted.Redacted<string> | undefined => {
      const entry = cache.get(key)
      return entry !== undefined && (entry._tag === "Fresh" || entry._tag === "Unpersisted") && now < entry.refreshAt
        ? entry.tokens.accessToken
        : undefined
    }

    const invalidate = (key: string, accessToken: Redacted.Redacted<string>) =>
      Effect.sync(() => {
        const entry = cache.get(key)
        if (
          entry !== undefined && (entry._tag === "Fresh" || entry._tag === "Unpersisted") &&
          Redacted.value(entry.tokens.accessToken) === Redacted.value(accessToken)
        ) {
          cache.set(key, TokenCache.rejected(entry))
        } else if (
          entry?._tag === "Dead" && entry.tokens !== undefined &&
          Redacted.value(entry.tokens.accessToken) === Redacted.value(accessToken)
        ) {
          // A possibly-spent key cannot refresh: its rejected access token stops serving (S25, S44).
          cache.set(key, TokenCache.dead(entry.version, entry.reason))
        }
      })

    const save = Effect.fn("AccessTokens.save")(function*(key: string, tokens: TokenSet.TokenSet) {
      yield* Effect.annotateCurrentSpan("oauth.key", key)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.lock(key, { lease, renew: true })
        const version = yield* store.set(key, tokens).pipe(
          Effect.catchTag("VersionConflict", (error) => Effect.die(error))
        )
        remember(key, tokens, version)
      }))
    })

    const signOut = Effect.fn("AccessTokens.signOut")(function*(key: string) {
      yield* Effect.annotateCurrentSpan("oauth.key", key)
      return yield* Effect.scoped(Effect.gen(function*() {
        yield* store.lock(key, { lease, renew: true })
        const stored = yield* store.get(key)
        const cached = cache.get(key)
        const unpersisted = cached?._tag === "Unpersisted" || (cached?._tag === "Rejected" && cached.unpersisted)
        const refreshToken = unpersisted
          ? cached.tokens.refreshToken
          : Option.flatMap(stored, (record) => record.tokens.refreshToken)
        if (Option.isNone(stored) && cached === undefined) return "no-tokens" as const
        const outcome = Option.isSome(refreshToken)
          ? yield* client.revoke(refreshToken.value, "refresh_token")
          : "unsupported" as const
        cache.delete(key)
        yield* store.remove(key).pipe(Effect.catchTag("VersionConflict", (error) => Effect.die(error)))
        return outcome
      }))
    })

    return AccessTokens.of({ save, get, tokens, invalidate, signOut, unsafeFresh })
  })

/**
 * The service as a layer over an `OAuthClient`, its `OAuthConfig` and a `TokenStore`.
 *
 * @example
 * ```ts
 * import { AccessTokens, OAuthClient, OAuthConfig, TokenStore } from "@effect-oauth/core"
 * import { NodeHttpClient } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * // The configuration from the environment (`OAUTH_CLIENT_ID`, ...), tokens kept in memory.
 * const Tokens = AccessTokens.layer({ refreshWindow: "2 minutes" }).pipe(
 *   Layer.provide(Layer.merge(OAuthClient.layer, TokenStore.layerMemory)),
 *   Layer.provide(OAuthConfig.layerConfig()),
 *   Layer.provide(NodeHttpClient.layerUndici)
 * )
 * void Tokens
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<AccessTokens, never, OAuthClient | OAuthConfig | TokenStore> => Layer.scoped(AccessTokens, make(options))

/**
 * A token function for SDKs whose `apiKey` accepts `T | Promise<T> | () => T | Promise<T>` (such as
 * `@credal/sdk`): it answers a fresh access token synchronously from memory, without entering the
 * Effect runtime, and otherwise returns a Promise of `get` on the current runtime that rejects with
 * the typed error itself (an `OAuthError` instance such as `ReauthorizationRequired`).
 *
 * @example
 * ```ts
 * import { AccessTokens, OAuthClient, type OAuthConfig, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { DateTime, Effect, Layer, Option, Redacted } from "effect"
 *
 * // A fake token endpoint: every token request is answered with new tokens.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(
 *         JSON.stringify({ access_token: "at-1", token_type: "Bearer", expires_in: 3600, refresh_token: "rt-1" }),
 *         { headers: { "content-type": "application/json" } }
 *       )
 *     )
 *   )
 * )
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read"]
 * }
 * const Tokens = AccessTokens.layer().pipe(
 *   Layer.provide(Layer.merge(OAuthClient.layerWithConfig(options), TokenStore.layerMemory)),
 *   Layer.provide(Layer.succeed(HttpClient.HttpClient, server))
 * )
 * // The tokens of a sign-in whose access token has just expired.
 * const signedIn = Effect.map(DateTime.now, (now) =>
 *   new TokenSet.TokenSet({
 *     accessToken: Redacted.make("at-0"),
 *     tokenType: "Bearer",
 *     refreshToken: Option.some(Redacted.make("rt-0")),
 *     expiresAt: now,
 *     refreshExpiresAt: Option.none(),
 *     issuedAt: DateTime.subtract(now, { hours: 1 }),
 *     scopes: ["read"]
 *   }))
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* AccessTokens.AccessTokens
 *   yield* tokens.save("user-1", yield* signedIn)
 *   // For an SDK option such as `apiKey: () => string | Promise<string>`.
 *   const apiKey = yield* AccessTokens.supplier("user-1")
 *   return yield* Effect.promise(async () => apiKey())
 * })
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, Tokens)), "at-1")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const supplier = (key: string): Effect.Effect<() => string | Promise<string>, never, AccessTokens> =>
  Effect.gen(function*() {
    const service = yield* AccessTokens
    const clock = yield* Effect.clock
    const run = Runtime.runPromiseExit(yield* Effect.runtime<never>())
    const get = Effect.map(service.get(key), Redacted.value)
    // The documented Promise-facing edge: the only place this library runs an effect itself.
    const slow = (): Promise<string> =>
      run(get).then((exit) => Exit.isSuccess(exit) ? exit.value : Promise.reject(Cause.squash(exit.cause)))
    const fresh = service.unsafeFresh
    return fresh === undefined ? slow : () => {
      const token = fresh(key, clock.unsafeCurrentTimeMillis())
      return token !== undefined ? Redacted.value(token) : slow()
    }
  })
