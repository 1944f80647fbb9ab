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
import type * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Policy from "./internal/refreshPolicy.js"
import * as SingleFlight from "./internal/singleFlight.js"
import * as TokenCache from "./internal/tokenCache.js"
import { OAuthClient } from "./OAuthClient.js"
import { OAuthConfig } from "./OAuthConfig.js"
import {
  type ErrorResponse,
  type HttpError,
  type InvalidIdToken,
  type InvalidTokenResponse,
  ReauthorizationRequired,
  RefreshOutcomeUnknown,
  TokenStoreError,
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

const refreshTokenOf = (tokens: TokenSet.TokenSet): string | undefined =>
  Option.getOrUndefined(Option.map(tokens.refreshToken, Redacted.value))

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
    const retryWrites = <A, R>(write: Effect.Effect<A, TokenStoreError | VersionConflict, R>, key: string) =>
      Effect.retry(
        Effect.tapError(write, (error) =>
          error._tag === "TokenStoreError"
            ? Effect.logWarning("effect-oauth: store write failed, retrying").pipe(
              Effect.annotateLogs({ "oauth.key": key, "oauth.store.reason": error.reason })
            )
            : Effect.void),
        { schedule: writeRetry, while: (error) => error._tag === "TokenStoreError" }
      )
    const lockLost = (key: string) => new TokenStoreError({ operation: "set", reason: "LockLost", key })

    const remember = (key: string, tokens: TokenSet.TokenSet, version: number) =>
      cache.set(key, TokenCache.fresh(tokens, version, Policy.refreshAt(tokens, settings)))

    /** Records that the same tokens are now stored at `version`; an API rejection stays (S25). */
    const restored = (key: string, tokens: TokenSet.TokenSet, version: number) => {
      const before = cache.get(key)
      const entry = TokenCache.fresh(tokens, version, Policy.refreshAt(tokens, settings))
      cache.set(key, before?._tag === "Rejected" ? TokenCache.rejected(entry) : entry)
    }

    /** The key's grant is lost: counted once per key and loss (S48), however many calls find it. */
    const lose = (key: string, entry: TokenCache.Entry) =>
      Effect.suspend(() => {
        const before = cache.get(key)
        cache.set(key, entry)
        return before?._tag === "Dead" && entry._tag === "Dead" && before.reason === entry.reason &&
            before.version === entry.version
          ? Effect.void
          : Effect.zipRight(
            Metric.increment(reauthorizationCounter),
            Effect.logWarning("effect-oauth: reauthorization required").pipe(
              Effect.annotateLogs({ "oauth.key": key, "oauth.reason": entry._tag === "Dead" ? entry.reason : "" })
            )
          )
      })

    const reauthorize = (key: string, decision: Extract<Policy.Decision, { readonly _tag: "Reauthorize" }>) =>
      Effect.gen(function*() {
        const { reason, remove, version } = decision
        if (Option.isNone(version)) {
          cache.delete(key)
          return yield* new ReauthorizationRequired({ reason, key })
        }
        const dead = TokenCache.dead(version.value, reason)
        yield* lose(key, dead)
        if (remove) {
          // Only the record judged dead is removed (a newer sign-in stays); until it is gone this
          // process never sends its refresh token again.
          yield* retryWrites(store.remove(key, { expectedVersion: version.value }), key).pipe(
            Effect.tap(() => Effect.sync(() => cache.get(key) === dead && cache.delete(key))),
            Effect.ignore
          )
        }
        return yield* new ReauthorizationRequired({ reason, key })
      })

    /** Stores refreshed tokens before anyone sees them (S18); if that fails they stay in memory. */
    const persist = (key: string, tokens: TokenSet.TokenSet, base: number | null) =>
      retryWrites(store.set(key, tokens, { expectedVersion: base }), key).pipe(
        Effect.matchEffect({
          onSuccess: (version) => Effect.as(Effect.sync(() => remember(key, tokens, version)), tokens),
          onFailure: (error) =>
            error._tag === "VersionConflict"
              // Someone wrote the key while our lease had run out. Our tokens are valid and were issued
              // for the refresh token we sent, so hand them out, and let the store's newer record win
              // for everyone after.
              ? Effect.map(store.get(key), (stored) => {
                Option.match(stored, {
                  onNone: () => cache.delete(key),
                  onSome: (record) => remember(key, record.tokens, record.version)
                })
                return tokens
              })
              : Effect.zipRight(unpersisted(key, tokens, base), Effect.fail(error))
        })
      )

    const unpersisted = (key: string, tokens: TokenSet.TokenSet, base: number | null) =>
      Effect.zipRight(
        Effect.sync(() => cache.set(key, TokenCache.unpersisted(tokens, base, Policy.refreshAt(tokens, settings)))),
        Effect.logError("effect-oauth: store write gave up; the new tokens are kept in memory").pipe(
          Effect.annotateLogs("oauth.key", key)
        )
      )

    /**
     * The last line of defence once a refresh answer arrived (S33): whatever fails or dies while it is
     * stored, the new tokens stay in memory as unpersisted and the caller gets a typed error.
     */
    const keep = (key: string, tokens: TokenSet.TokenSet, base: number | null) =>
      Effect.catchAllDefect(persist(key, tokens, base), () =>
        Effect.zipRight(
          unpersisted(key, tokens, base),
          new TokenStoreError({ operation: "set", reason: "Unavailable", key, detail: "the write failed unexpectedly" })
        ))

    const send = (key: string, tokens: TokenSet.TokenSet) =>
      Effect.zipRight(
        Effect.zipRight(
          Metric.increment(refreshCounter),
          Effect.logDebug("effect-oauth: refresh sent").pipe(Effect.annotateLogs("oauth.key", key))
        ),
        // A defect after the request went out: the server may have rotated the token (S33).
        Effect.catchAllDefect(client.refresh(tokens), () => new RefreshOutcomeUnknown({ reason: "Defect" }))
      )

    /**
     * Sends the refresh token of `record` (S17–S22, S44): the store first learns that it is possibly
     * spent, and only an answer clears that mark.
     */
    const refresh = (
      key: string,
      record: Policy.Stored,
      retried: boolean
    ): Effect.Effect<TokenSet.TokenSet, GetError> =>
      Effect.gen(function*() {
        const refreshSentAt = yield* DateTime.now
        const marked = yield* retryWrites(
          store.set(key, record.tokens, { expectedVersion: record.version, refreshSentAt }),
          key
        ).pipe(
          // A write that went through but reported a failure, then conflicted with itself on retry.
          Effect.catchTag("VersionConflict", () =>
            Effect.flatMap(store.get(key), (found) =>
              Option.isSome(found) && found.value.refreshSentAt?.epochMillis === refreshSentAt.epochMillis &&
                refreshTokenOf(found.value.tokens) === refreshTokenOf(record.tokens)
                ? Effect.succeed(found.value.version)
                : Effect.fail(lockLost(key)))),
          Effect.catchAllDefect(() =>
            new TokenStoreError({
              operation: "set",
              reason: "Unavailable",
              key,
              detail: "the write failed unexpectedly"
            })
          )
        )
        const sent: Policy.Stored = { tokens: record.tokens, version: marked, refreshSentAt }
        const attempt = options.retryLostRefresh === true
          ? send(key, sent.tokens).pipe(Effect.catchTag("RefreshOutcomeUnknown", () => send(key, sent.tokens)))
          : send(key, sent.tokens)
        const result = yield* Effect.either(attempt)
        if (Either.isRight(result)) {
          return yield* keep(key, result.right, marked)
        }
        const error = result.left
        yield* Effect.logWarning("effect-oauth: refresh failed").pipe(
          Effect.annotateLogs({ "oauth.key": key, "oauth.error": error._tag })
        )
        if (error._tag === "RefreshOutcomeUnknown") {
          // The answer was lost: the mark stays, and the access token serves until it expires (S44).
          yield* lose(key, TokenCache.dead(marked, "refresh-outcome-unknown", record.tokens))
          return yield* Effect.fail(error)
        }
        if (error._tag === "ReauthorizationRequired") {
          if (error.reason !== "refresh-token-rejected") {
            return yield* carryOut(key, Policy.afterFailure(sent, error), true)
          }
          // S21: another process may have rotated the token since we read it.
          const reread = retried ? Option.none() : yield* store.get(key)
          const now = yield* Clock.currentTimeMillis
          return yield* carryOut(key, Policy.afterRejection(sent, reread, now, settings, retried), true)
        }
        // The server answered, so the refresh token was not spent: clear the mark.
        yield* retryWrites(store.set(key, record.tokens, { expectedVersion: marked }), key).pipe(
          Effect.tap((version) =>
            Effect.sync(() => restored(key, record.tokens, version))
          ),
          Effect.ignore
        )
        return yield* Effect.fail(error)
      })

    const carryOut = (
      key: string,
      decision: Policy.Decision,
      retried: boolean
    ): Effect.Effect<TokenSet.TokenSet, GetError> =>
      Policy.Decision.$match(decision, {
        Adopt: ({ possiblySpent, tokens, unpersisted, version }) =>
          possiblySpent
            ? Effect.as(lose(key, TokenCache.dead(version, "refresh-outcome-unknown", tokens)), tokens)
            : Effect.sync(() => {
              if (!unpersisted && version !== null) remember(key, tokens, version)
              return tokens
            }),
        // Once the refresh token is sent, the answer is stored even if the layer is shutting down.
        Refresh: ({ tokens, version }) => Effect.uninterruptible(refresh(key, { tokens, version }, retried)),
        Reauthorize: (end) => reauthorize(key, end),
        WriteBack: () => Effect.die("a write back is carried out by the flight")
      })

    /** The slow path: under the store lock, re-read, then decide and carry it out (S17–S24, S46). */
    const flight = (key: string): Effect.Effect<TokenSet.TokenSet, GetError> =>
      Effect.scoped(Effect.gen(function*() {
        yield* store.lock(key, { lease, renew: true })
        const stored: Option.Option<Policy.Stored> = yield* store.get(key)
        const now = yield* Clock.currentTimeMillis
        let decision = Policy.decide(cache.get(key), stored, now, settings)
        if (decision._tag === "WriteBack") {
          const { expectedVersion, tokens } = decision
          const written = yield* Effect.either(store.set(key, tokens, { expectedVersion }))
          if (Either.isRight(written)) restored(key, tokens, written.right)
          const version = Either.isRight(written)
            ? written.right
            : Option.match(stored, {
              onNone: () => null,
              onSome: (s) => s.version
            })
          decision = Policy.decide(cache.get(key), Option.some({ tokens, version }), now, settings)
        }
        return yield* carryOut(key, decision, false)
      })).pipe(Effect.withSpan("AccessTokens.refresh", { attributes: { "oauth.key": key } }))

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

    /** What memory can answer at once: fresh tokens, or a possibly-spent key's access token while valid (S44). */
    const answer = (key: string, fiber: Fiber.RuntimeFiber<unknown, unknown>) => {
      const entry = cache.get(key)
      if (entry === undefined || entry._tag === "Rejected") return undefined
      const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis()
      if (entry._tag === "Dead") {
        return entry.tokens !== undefined && entry.success !== undefined && now < entry.until
          ? { tokens: entry.tokens, success: entry.success }
          : undefined
      }
      return now < entry.refreshAt ? entry : undefined
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
        return found !== undefined ? Effect.succeed(found.tokens) : lookup(key)
      })

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

    return AccessTokens.of({ save, get, tokens, invalidate, signOut })
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<AccessTokens, never, OAuthClient | OAuthConfig | TokenStore> => Layer.scoped(AccessTokens, make(options))
