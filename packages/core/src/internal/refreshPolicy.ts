/**
 * The refresh policy of `AccessTokens`, pure: given what this process caches for a key, what the
 * store holds (read under the key's lock) and the time, it decides to adopt the stored tokens, write
 * back tokens the store has not accepted, refresh, or end the grant. It is the one place where SPEC
 * S17–S25's decisions are made; `AccessTokens` carries them out.
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type { ReauthorizationRequired } from "../OAuthError.js"
import type * as TokenSet from "../TokenSet.js"
import type { Entry } from "./tokenCache.js"

/** A stored record: the store's view of the key. @internal */
export interface Stored {
  readonly tokens: TokenSet.TokenSet
  /** `null`: not in the store (tokens only this process holds). */
  readonly version: number | null
  /** The possibly-spent mark: a refresh of this record was sent and its answer lost (S44). */
  readonly refreshSentAt?: DateTime.Utc | undefined
}

/** @internal */
export type Decision = Data.TaggedEnum<{
  /**
   * Use these tokens until their refresh point; `unpersisted`: the store does not have them yet;
   * `possiblySpent`: their refresh token is never sent again, the access token serves until it expires (S44).
   */
  Adopt: {
    readonly tokens: TokenSet.TokenSet
    readonly version: number | null
    readonly unpersisted: boolean
    readonly possiblySpent: boolean
  }
  /** The cached tokens are newer than the store's: write them at `expectedVersion`, then decide again. */
  WriteBack: { readonly tokens: TokenSet.TokenSet; readonly expectedVersion: number | null }
  /** Send the refresh token of `tokens`; the answer is stored at `version`. */
  Refresh: { readonly tokens: TokenSet.TokenSet; readonly version: number | null }
  /**
   * The grant ended; `version`, when some, is the record judged dead; `remove`: it is removed from the
   * store (a possibly-spent record stays, so that every process sharing it knows, S44).
   */
  Reauthorize: {
    readonly reason: ReauthorizationRequired["reason"]
    readonly version: Option.Option<number | null>
    readonly remove: boolean
  }
}>

/** @internal */
export const Decision = Data.taggedEnum<Decision>()

/** @internal */
export interface Settings {
  /** How long before expiry a refresh is due, in milliseconds (S24). */
  readonly window: number
}

/**
 * How long before expiry a refresh of `tokens` is due: the configured window (S24), but at most half
 * the token's lifetime, so a short-lived token is not refreshed on every call (S35).
 *
 * @internal
 */
export const windowOf = (tokens: TokenSet.TokenSet, settings: Settings): number => {
  const lifetime = DateTime.toEpochMillis(tokens.expiresAt) - DateTime.toEpochMillis(tokens.issuedAt)
  return Math.min(settings.window, Math.max(0, lifetime) / 2)
}

/** When a refresh of `tokens` is due, in epoch milliseconds (S24, S35). @internal */
export const refreshAt = (tokens: TokenSet.TokenSet, settings: Settings): number =>
  DateTime.toEpochMillis(tokens.expiresAt) - windowOf(tokens, settings)

const tokenValue = (token: Option.Option<Redacted.Redacted<string>>): string | undefined =>
  Option.match(token, { onNone: () => undefined, onSome: Redacted.value })

const unpersistedTokens = (cached: Entry | undefined) =>
  cached === undefined
    ? undefined
    : cached._tag === "Unpersisted"
    ? { tokens: cached.tokens, base: cached.base }
    : cached._tag === "Rejected" && cached.unpersisted
    ? { tokens: cached.tokens, base: cached.version }
    : undefined

/**
 * What to do for a key under its lock (S17–S24): `cached` is this process's entry, `stored` the
 * record just read, `now` in epoch milliseconds.
 *
 * @internal
 */
export const decide = (
  cached: Entry | undefined,
  stored: Option.Option<Stored>,
  now: number,
  settings: Settings
): Decision => {
  const mine = unpersistedTokens(cached)
  if (
    mine !== undefined &&
    (Option.isNone(stored) || (stored.value.version === mine.base && stored.value.tokens !== mine.tokens))
  ) {
    // Our last refresh could not be stored: those tokens are the newest; store them now (S18).
    return Decision.WriteBack({ tokens: mine.tokens, expectedVersion: Option.isNone(stored) ? null : mine.base })
  }
  if (Option.isNone(stored)) return end("no-tokens", Option.none(), false)
  const current = stored.value
  const rejected = cached?._tag === "Rejected" ? Redacted.value(cached.tokens.accessToken) : undefined
  const valid = now < DateTime.toEpochMillis(current.tokens.expiresAt) &&
    Redacted.value(current.tokens.accessToken) !== rejected
  if (current.refreshSentAt !== undefined) {
    // Possibly spent (S44): nobody sends this refresh token again; its access token serves while
    // valid and not rejected by the API (a dead entry without tokens here).
    const rejectedHere = cached?._tag === "Dead" && cached.version === current.version && cached.tokens === undefined
    return valid && !rejectedHere
      ? Decision.Adopt({ tokens: current.tokens, version: current.version, unpersisted: false, possiblySpent: true })
      : end("refresh-outcome-unknown", Option.some(current.version), false)
  }
  if (cached?._tag === "Dead" && cached.version === current.version) {
    // This process judged the record dead and could not remove it: never send its refresh token.
    return end(cached.reason, Option.some(current.version), true)
  }
  const basis = basisOf(cached)
  if (
    (!due(current.tokens, now, settings) && valid) ||
    // S46: a record newer than the one that made us refresh was stored while we waited for the lock.
    (basis !== undefined && current.version !== basis && valid)
  ) {
    return Decision.Adopt({
      tokens: current.tokens,
      version: current.version,
      unpersisted: mine !== undefined && mine.tokens === current.tokens,
      possiblySpent: false
    })
  }
  return refreshOrEnd(current)
}

/**
 * While a flight waits for the key's lock, `stored` was read after a change signal: the tokens to
 * adopt without the lock, or none (S46, S47). Only a record at another version than `cached`'s (any,
 * for a key this process has no entry for), fresh (valid, not due, not rejected here) and not possibly
 * spent (S44), on a cache that holds nothing the store lacks: exactly the records `decide` would adopt
 * under the lock as they are. Everything else waits for the lock.
 *
 * @internal
 */
export const adoptable = (
  cached: Entry | undefined,
  stored: Option.Option<Stored>,
  now: number,
  settings: Settings
): Option.Option<{ readonly tokens: TokenSet.TokenSet; readonly version: number }> => {
  if (Option.isNone(stored) || cached?._tag === "Dead" || cached?._tag === "Unpersisted") return Option.none()
  if (cached?._tag === "Rejected" && cached.unpersisted) return Option.none()
  const { refreshSentAt, tokens, version } = stored.value
  const rejected = cached?._tag === "Rejected" ? Redacted.value(cached.tokens.accessToken) : undefined
  return version !== null && version !== cached?.version && refreshSentAt === undefined &&
      now < DateTime.toEpochMillis(tokens.expiresAt) && !due(tokens, now, settings) &&
      Redacted.value(tokens.accessToken) !== rejected
    ? Option.some({ tokens, version })
    : Option.none()
}

const end = (
  reason: ReauthorizationRequired["reason"],
  version: Option.Option<number | null>,
  remove: boolean
): Decision => Decision.Reauthorize({ reason, version, remove })

/** The store version this process's cached tokens are at: the one that made it refresh (S46). */
const basisOf = (cached: Entry | undefined): number | null | undefined => {
  switch (cached?._tag) {
    case "Fresh":
    case "Rejected":
      return cached.version
    case "Unpersisted":
      return cached.base
    case "Dead":
    case undefined:
      return undefined
  }
}

// A refresh token past its lifetime, or none at all, is `OAuthClient.refresh`'s to refuse, without a
// request (S24); `afterFailure` then ends the grant.
const refreshOrEnd = (current: Stored): Decision =>
  Decision.Refresh({ tokens: current.tokens, version: current.version })

const due = (tokens: TokenSet.TokenSet, now: number, settings: Settings): boolean =>
  tokens.needsRefresh(DateTime.unsafeMake(now), Duration.millis(windowOf(tokens, settings)))

/**
 * The refresh of `sent` failed with `error`: what now (S21, S22, S24).
 *
 * @internal
 */
export const afterFailure = (
  sent: Stored,
  error: ReauthorizationRequired
): Decision => end(error.reason, Option.some(sent.version), true)

/**
 * The server answered `invalid_grant` to the refresh of `sent` (S21): `reread` is the store read
 * once more. A different refresh token there was rotated by someone else meanwhile: adopt it, or
 * refresh with it once. Otherwise the record is dead.
 *
 * @internal
 */
export const afterRejection = (
  sent: Stored,
  reread: Option.Option<Stored>,
  now: number,
  settings: Settings,
  retried: boolean
): Decision => {
  if (
    !retried && Option.isSome(reread) &&
    tokenValue(reread.value.tokens.refreshToken) !== tokenValue(sent.tokens.refreshToken)
  ) {
    const found = reread.value
    const valid = now < DateTime.toEpochMillis(found.tokens.expiresAt)
    if (found.refreshSentAt !== undefined) {
      return valid
        ? Decision.Adopt({ tokens: found.tokens, version: found.version, unpersisted: false, possiblySpent: true })
        : end("refresh-outcome-unknown", Option.some(found.version), false)
    }
    return !due(found.tokens, now, settings)
      ? Decision.Adopt({ tokens: found.tokens, version: found.version, unpersisted: false, possiblySpent: false })
      : refreshOrEnd(found)
  }
  return end("refresh-token-rejected", Option.some(sent.version), true)
}
