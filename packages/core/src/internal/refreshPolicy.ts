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
}

/** @internal */
export type Decision = Data.TaggedEnum<{
  /** Use these tokens until their refresh point; `unpersisted`: the store does not have them yet. */
  Adopt: { readonly tokens: TokenSet.TokenSet; readonly version: number | null; readonly unpersisted: boolean }
  /** The cached tokens are newer than the store's: write them at `expectedVersion`, then decide again. */
  WriteBack: { readonly tokens: TokenSet.TokenSet; readonly expectedVersion: number | null }
  /** Send the refresh token of `tokens`; the answer is stored at `version`. */
  Refresh: { readonly tokens: TokenSet.TokenSet; readonly version: number | null }
  /** The grant ended; `version`, when some, is the record judged dead, removed from the store. */
  Reauthorize: {
    readonly reason: ReauthorizationRequired["reason"]
    readonly version: Option.Option<number | null>
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
  if (Option.isNone(stored)) return Decision.Reauthorize({ reason: "no-tokens", version: Option.none() })
  const current = stored.value
  if (cached?._tag === "Dead" && cached.version === current.version) {
    // This process judged the record dead and could not remove it: never send its refresh token.
    return Decision.Reauthorize({ reason: cached.reason, version: Option.some(current.version) })
  }
  const rejected = cached?._tag === "Rejected" ? Redacted.value(cached.tokens.accessToken) : undefined
  if (!due(current.tokens, now, settings) && Redacted.value(current.tokens.accessToken) !== rejected) {
    return Decision.Adopt({
      tokens: current.tokens,
      version: current.version,
      unpersisted: mine !== undefined && mine.tokens === current.tokens
    })
  }
  return refreshOrEnd(current)
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
): Decision => Decision.Reauthorize({ reason: error.reason, version: Option.some(sent.version) })

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
    return !due(reread.value.tokens, now, settings)
      ? Decision.Adopt({ tokens: reread.value.tokens, version: reread.value.version, unpersisted: false })
      : refreshOrEnd(reread.value)
  }
  return Decision.Reauthorize({ reason: "refresh-token-rejected", version: Option.some(sent.version) })
}
