/**
 * The refresh of one key, as `AccessTokens` runs it inside its single flight: under the store's
 * per-key lock, re-read the store, let the refresh policy decide, and carry the decision out — write
 * back, adopt, refresh (marking the refresh token possibly spent first, S44) or end the grant — with
 * every store write retried for up to one lease (S18, S45) and nothing lost once an answer arrived
 * (S33).
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Schedule from "effect/Schedule"
import type { GetError as AccessTokensGetError } from "../AccessTokens.js"
import type { OAuthClient } from "../OAuthClient.js"
import type { ReauthorizationRequired, RefreshOutcomeUnknown, TokenStoreError, VersionConflict } from "../OAuthError.js"
import type * as TokenSet from "../TokenSet.js"
import type { TokenStore } from "../TokenStore.js"
import * as Policy from "./refreshPolicy.js"
import * as TokenCache from "./tokenCache.js"

/** What a refresh can fail with. @internal */
export type GetError = AccessTokensGetError

/** @internal */
export interface Deps {
  readonly client: OAuthClient["Type"]
  readonly store: TokenStore["Type"]
  readonly cache: TokenCache.TokenCache
  readonly settings: Policy.Settings
  readonly lease: Duration.DurationInput
  readonly writeRetry: Schedule.Schedule<unknown, unknown>
  readonly retryLostRefresh: boolean
  readonly refreshCounter: Metric.Metric.Counter<number>
  readonly reauthorizationCounter: Metric.Metric.Counter<number>
  /** The error classes, from `OAuthError` (an internal module imports no public one at run time). */
  readonly errors: {
    readonly ReauthorizationRequired: typeof ReauthorizationRequired
    readonly RefreshOutcomeUnknown: typeof RefreshOutcomeUnknown
    readonly TokenStoreError: typeof TokenStoreError
  }
}

const refreshTokenOf = (tokens: TokenSet.TokenSet): string | undefined =>
  Option.getOrUndefined(Option.map(tokens.refreshToken, Redacted.value))

/** @internal */
export const make = (deps: Deps) => {
  const { cache, client, lease, reauthorizationCounter, refreshCounter, settings, store, writeRetry } = deps
  const { ReauthorizationRequired, RefreshOutcomeUnknown, TokenStoreError } = deps.errors
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
      const attempt = deps.retryLostRefresh
        ? send(key, sent.tokens).pipe(Effect.catchTag("RefreshOutcomeUnknown", () =>
          send(key, sent.tokens)))
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
        // The answer was lost: the mark stays, and the access token serves until it expires (S44),
        // unless the API already rejected it (S25): then nothing is left to serve.
        const before = cache.get(key)
        const rejectedToken = before?._tag === "Rejected" &&
          Redacted.value(before.tokens.accessToken) === Redacted.value(record.tokens.accessToken)
        yield* lose(
          key,
          rejectedToken
            ? TokenCache.dead(marked, "refresh-outcome-unknown")
            : TokenCache.dead(marked, "refresh-outcome-unknown", record.tokens)
        )
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

  /**
   * Waits, on the store's change signal, for a record another process stored that the policy adopts
   * as it is (S46, S47): adopting sends no refresh token, so it needs no lock. Never fails: a failed
   * read waits for the next signal.
   */
  const adoptWhenChanged = (
    key: string,
    awaitChange: (key: string) => Effect.Effect<void>
  ): Effect.Effect<TokenSet.TokenSet> =>
    Effect.gen(function*() {
      while (true) {
        yield* awaitChange(key)
        const stored: Option.Option<Policy.Stored> = yield* store.get(key).pipe(
          Effect.catchAllDefect(() => Effect.succeedNone),
          Effect.orElseSucceed(() => Option.none())
        )
        const now = yield* Clock.currentTimeMillis
        const found = Policy.adoptable(cache.get(key), stored, now, settings)
        if (Option.isSome(found)) {
          remember(key, found.value.tokens, found.value.version)
          return found.value.tokens
        }
      }
    })

  /**
   * The slow path: under the store lock, re-read, then decide and carry it out (S17–S24, S46). While
   * it waits for the lock, a fresh record stored by another process ends the wait (S47).
   */
  const flight = (key: string): Effect.Effect<TokenSet.TokenSet, GetError> =>
    Effect.scoped(Effect.gen(function*() {
      const locked = Effect.as(store.lock(key, { lease, renew: true }), Option.none<TokenSet.TokenSet>())
      const adopted = store.awaitChange === undefined
        ? yield* locked
        : yield* Effect.raceWith(locked, Effect.asSome(adoptWhenChanged(key, store.awaitChange)), {
          onSelfDone: (exit, adopting) => Effect.zipRight(Fiber.interrupt(adopting), exit),
          // Adopted: the lock wait is interrupted without waiting for its clean-up (a ticket's removal);
          // a lock it took meanwhile is released by this flight's scope, or at once if that has closed.
          onOtherDone: (exit, locking) => Effect.zipRight(Fiber.interruptFork(locking), exit)
        })
      if (Option.isSome(adopted)) return adopted.value
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

  return { flight, remember }
}
