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
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import { OAuthClient } from "./OAuthClient.js"
import { OAuthConfig } from "./OAuthConfig.js"
import {
  type ErrorResponse,
  type HttpError,
  type InvalidIdToken,
  type InvalidTokenResponse,
  ReauthorizationRequired,
  type RefreshOutcomeUnknown,
  type TokenStoreError,
  type VersionConflict
} from "./OAuthError.js"
import type * as TokenSet from "./TokenSet.js"
import { TokenStore } from "./TokenStore.js"

/**
 * What `get` can fail with.
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
  /** At most this many keys are cached; the oldest leave first. Default: 100 000. */
  readonly cacheCapacity?: number | undefined
}

/**
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
}

/**
 * @since 0.1.0
 * @category tags
 */
export class AccessTokens extends Context.Tag("@effect-oauth/core/AccessTokens")<AccessTokens, Service>() {}

/**
 * Token requests made to refresh, by outcome.
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
 * @since 0.1.0
 * @category utils
 */
export const reauthorizationCounter = Metric.counter("effect_oauth_reauthorizations_total", {
  description: "Keys that need a new sign-in",
  incremental: true
})

interface Entry {
  readonly tokens: TokenSet.TokenSet
  readonly accessToken: Redacted.Redacted<string>
  /** When a refresh is due, in epoch milliseconds. */
  readonly refreshAt: number
  /** The store version these tokens are at or, when `unpersisted`, were refreshed from. */
  readonly version: number | null
  /** The store write failed: these tokens are newer than the store's (SPEC S18). */
  readonly unpersisted: boolean
  /** The API rejected this access token (SPEC S25). */
  rejected: boolean
}

type Flight = Deferred.Deferred<Entry, GetError>

/** A token set and the store version it is at (`null`: not in the store). */
interface Current {
  readonly tokens: TokenSet.TokenSet
  readonly version: number | null
}

const value = (token: Option.Option<Redacted.Redacted<string>>): string | undefined =>
  Option.match(token, { onNone: () => undefined, onSome: Redacted.value })

/**
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
    const scope = yield* Effect.scope
    const window = Duration.toMillis(options.refreshWindow ?? config.refreshWindow)
    const lease = options.lockLease ?? Duration.sum(Duration.times(config.requestTimeout, 2), Duration.seconds(10))
    const writeRetry = options.writeRetry ??
      Schedule.exponential(Duration.millis(50)).pipe(Schedule.intersect(Schedule.recurs(4)))
    const capacity = options.cacheCapacity ?? 100_000

    // The cache and the flights are plain maps owned by this service: every read-and-write of them
    // happens in one synchronous step, which the Effect runtime never interleaves.
    const cache = new Map<string, Entry>()
    const flights = new Map<string, Flight>()
    // Store versions judged dead whose removal failed: their refresh token is never sent again.
    const dead = new Map<string, number | null>()

    const entryOf = (tokens: TokenSet.TokenSet, version: number | null, unpersisted: boolean): Entry => ({
      tokens,
      accessToken: tokens.accessToken,
      refreshAt: DateTime.toEpochMillis(tokens.expiresAt) - window,
      version,
      unpersisted,
      rejected: false
    })

    const remember = (key: string, tokens: TokenSet.TokenSet, version: number | null, unpersisted = false): Entry => {
      const entry = entryOf(tokens, version, unpersisted)
      if (!cache.has(key) && cache.size >= capacity) {
        // The oldest entry leaves, unless it holds tokens the store does not have yet (SPEC S18).
        for (const [oldest, candidate] of cache) {
          if (!candidate.unpersisted) {
            cache.delete(oldest)
            break
          }
        }
      }
      cache.set(key, entry)
      return entry
    }

    const forget = (key: string) => Effect.sync(() => cache.delete(key))

    const reauthorize = (
      key: string,
      reason: ReauthorizationRequired["reason"],
      version: Option.Option<number | null>
    ) =>
      Effect.gen(function*() {
        yield* forget(key)
        if (Option.isSome(version)) {
          // Only the record we judged dead is removed (a newer sign-in stays), with the write retries of
          // new tokens; until it is gone this process never sends its refresh token again.
          dead.set(key, version.value)
          yield* store.remove(key, { expectedVersion: version.value }).pipe(
            Effect.retry({ schedule: writeRetry, while: (error) => error._tag === "TokenStoreError" }),
            Effect.tap(() => Effect.sync(() => dead.delete(key))),
            Effect.ignore
          )
        }
        yield* Metric.increment(reauthorizationCounter)
        return yield* new ReauthorizationRequired({ reason, key })
      })

    /** Stores refreshed tokens before anyone sees them (SPEC S18). */
    const persist = (key: string, tokens: TokenSet.TokenSet, base: number | null) =>
      store.set(key, tokens, { expectedVersion: base }).pipe(
        Effect.retry({ schedule: writeRetry, while: (error) => error._tag === "TokenStoreError" }),
        Effect.matchEffect({
          onSuccess: (version) => Effect.succeed(remember(key, tokens, version)),
          onFailure: (error: TokenStoreError | VersionConflict) =>
            error._tag === "VersionConflict"
              // Someone wrote the key while our lease had run out. Our tokens are valid and were
              // issued for the refresh token we sent, so hand them out, and let the store's newer
              // record win for everyone after.
              ? Effect.map(store.get(key), (stored) => {
                Option.match(stored, {
                  onNone: () => cache.delete(key),
                  onSome: (record) => remember(key, record.tokens, record.version)
                })
                return entryOf(tokens, base, false)
              })
              : Effect.zipRight(
                Effect.sync(() => remember(key, tokens, base, true)),
                Effect.fail(error)
              )
        })
      )

    const sendRefresh = (tokens: TokenSet.TokenSet) =>
      Effect.zipRight(Metric.increment(refreshCounter), client.refresh(tokens))

    const refreshRecord = (
      key: string,
      current: Current,
      adopted: boolean
    ): Effect.Effect<Entry, GetError> =>
      Effect.gen(function*() {
        const attempt = options.retryLostRefresh === true
          ? sendRefresh(current.tokens).pipe(
            Effect.catchTag("RefreshOutcomeUnknown", () => sendRefresh(current.tokens))
          )
          : sendRefresh(current.tokens)
        const result = yield* Effect.either(attempt)
        if (Either.isRight(result)) return yield* persist(key, result.right, current.version)
        const error = result.left
        if (error._tag !== "ReauthorizationRequired") return yield* Effect.fail(error)
        if (error.reason === "refresh-token-rejected" && !adopted) {
          // SPEC S21: another process may have rotated the token since we read it.
          const reread = yield* store.get(key)
          if (
            Option.isSome(reread) &&
            value(reread.value.tokens.refreshToken) !== value(current.tokens.refreshToken)
          ) {
            const now = yield* Clock.currentTimeMillis
            const fresh = DateTime.toEpochMillis(reread.value.tokens.expiresAt) - window > now
            return fresh
              ? remember(key, reread.value.tokens, reread.value.version)
              : yield* refreshRecord(key, reread.value, true)
          }
        }
        return yield* reauthorize(key, error.reason, Option.some(current.version))
      })

    /** The slow path: under the store lock, re-read, then adopt or refresh (SPEC S17–S24). */
    const flight = (key: string, rejected: string | undefined): Effect.Effect<Entry, GetError> =>
      Effect.scoped(Effect.gen(function*() {
        yield* store.lock(key, { lease })
        const cached = cache.get(key)
        const stored = yield* store.get(key)
        let current: Current | undefined = Option.getOrUndefined(stored)
        if (
          cached !== undefined && cached.unpersisted &&
          (current === undefined || current.version === cached.version)
        ) {
          // Our last refresh could not be stored: those tokens are the newest; store them now.
          const written = yield* Effect.either(
            store.set(key, cached.tokens, { expectedVersion: current?.version ?? null })
          )
          current = { tokens: cached.tokens, version: Either.getOrElse(written, () => current?.version ?? null) }
          if (Either.isRight(written)) remember(key, cached.tokens, written.right)
        }
        if (current === undefined) {
          dead.delete(key)
          return yield* reauthorize(key, "no-tokens", Option.none())
        }
        if (dead.has(key)) {
          if (dead.get(key) === current.version) {
            return yield* reauthorize(key, "refresh-token-rejected", Option.some(current.version))
          }
          dead.delete(key)
        }
        const now = yield* Clock.currentTimeMillis
        const due = DateTime.toEpochMillis(current.tokens.expiresAt) - window <= now
        if (!due && Redacted.value(current.tokens.accessToken) !== rejected) {
          const entry = cache.get(key)
          return entry !== undefined && entry.unpersisted && entry.tokens === current.tokens
            ? entry
            : remember(key, current.tokens, current.version)
        }
        if (current.tokens.refreshExpired(DateTime.unsafeMake(now))) {
          return yield* reauthorize(key, "refresh-token-expired", Option.some(current.version))
        }
        if (Option.isNone(current.tokens.refreshToken)) {
          return yield* reauthorize(key, "no-refresh-token", Option.some(current.version))
        }
        // Once the refresh token is sent, the answer is stored even if the layer is shutting down.
        return yield* Effect.uninterruptible(refreshRecord(key, current, false))
      })).pipe(
        Effect.withSpan("AccessTokens.refresh", { attributes: { "oauth.key": key } })
      )

    /** One flight per key: every caller awaits it; it runs to the end even if they all leave (S19, S23). */
    const join = (key: string): Effect.Effect<Entry, GetError> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const existing = flights.get(key)
          if (existing !== undefined) return restore(Deferred.await(existing))
          const rejected = cache.get(key)
          const deferred = Deferred.unsafeMake<Entry, GetError>(FiberId.none)
          flights.set(key, deferred)
          // Every end of the flight, interruption by a shutting-down layer included, reaches its waiters.
          const run = flight(key, rejected?.rejected === true ? Redacted.value(rejected.accessToken) : undefined).pipe(
            Effect.onExit((exit) =>
              Effect.zipRight(
                Effect.sync(() => {
                  if (flights.get(key) === deferred) flights.delete(key)
                }),
                Deferred.done(deferred, exit)
              )
            )
          )
          // The flight runs in the service's scope, not the caller's: interrupting callers leaves it be.
          // A flight that never starts (its scope already closed) still ends its waiters.
          return Effect.flatMap(Effect.forkIn(Effect.interruptible(run), scope), (fiber) => {
            fiber.addObserver((exit) => {
              if (flights.get(key) === deferred) flights.delete(key)
              if (Exit.isFailure(exit)) Deferred.unsafeDone(deferred, Effect.failCause(exit.cause))
            })
            return restore(Deferred.await(deferred))
          })
        })
      )

    const slow = Effect.fn("AccessTokens.get")(function*(key: string) {
      yield* Effect.annotateCurrentSpan("oauth.key", key)
      return yield* join(key)
    })

    const lookup = (key: string): Effect.Effect<Entry, GetError> =>
      Effect.flatMap(Clock.currentTimeMillis, (now) => {
        const entry = cache.get(key)
        if (entry !== undefined && !entry.rejected && now < entry.refreshAt) return Effect.succeed(entry)
        // Callers arriving while a refresh is in flight just wait for it, without a span of their own.
        const flight = flights.get(key)
        return flight !== undefined ? Deferred.await(flight) : slow(key)
      })

    const get = (key: string) => Effect.map(lookup(key), (entry) => entry.accessToken)

    const tokens = (key: string) => Effect.map(lookup(key), (entry) => entry.tokens)

    const invalidate = (key: string, accessToken: Redacted.Redacted<string>) =>
      Effect.sync(() => {
        const entry = cache.get(key)
        if (entry !== undefined && Redacted.value(entry.accessToken) === Redacted.value(accessToken)) {
          entry.rejected = true
        }
      })

    const save = Effect.fn("AccessTokens.save")(function*(key: string, tokens: TokenSet.TokenSet) {
      yield* Effect.annotateCurrentSpan("oauth.key", key)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* store.lock(key, { lease })
        const version = yield* store.set(key, tokens).pipe(
          Effect.catchTag("VersionConflict", (error) => Effect.die(error))
        )
        remember(key, tokens, version)
      }))
    })

    const signOut = Effect.fn("AccessTokens.signOut")(function*(key: string) {
      yield* Effect.annotateCurrentSpan("oauth.key", key)
      return yield* Effect.scoped(Effect.gen(function*() {
        yield* store.lock(key, { lease })
        const stored = yield* store.get(key)
        const cached = cache.get(key)
        const refreshToken = cached?.unpersisted === true
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

    return AccessTokens.of({ save, get, tokens, invalidate, signOut })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<AccessTokens, never, OAuthClient | OAuthConfig | TokenStore> => Layer.scoped(AccessTokens, make(options))
