/**
 * The token cache of `AccessTokens`: one entry per key, a tagged union of what this process knows
 * about the key, answering the hot path with no I/O. Eviction is least recently used, and never
 * drops what the store does not know: tokens it has not accepted yet (SPEC S18) and the knowledge
 * that a record is dead (its refresh token is never sent again, S21, S44).
 *
 * @internal
 */
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type * as Redacted from "effect/Redacted"
import type { ReauthorizationRequired } from "../OAuthError.js"
import type * as TokenSet from "../TokenSet.js"

/** @internal */
export type Entry = Data.TaggedEnum<{
  /** Tokens the store holds at `version`. */
  Fresh: Usable & { readonly version: number }
  /** Newer tokens than the store's: the write failed; `base` is the version they were refreshed from. */
  Unpersisted: Usable & { readonly base: number | null }
  /** The API rejected the access token (S25): the next get refreshes. */
  Rejected: {
    readonly tokens: TokenSet.TokenSet
    readonly version: number | null
    readonly unpersisted: boolean
  }
  /**
   * The record at `version` is judged dead: its refresh token is never sent again. `tokens`, when
   * present, still serve their access token until it expires (S44).
   */
  Dead: {
    readonly version: number | null
    readonly reason: ReauthorizationRequired["reason"]
    readonly tokens: TokenSet.TokenSet | undefined
    /** Until when the access token of `tokens` still serves, in epoch milliseconds (0: not at all). */
    readonly until: number
    readonly success: Effect.Effect<Redacted.Redacted<string>> | undefined
  }
}>

/** @internal */
export interface Usable {
  readonly tokens: TokenSet.TokenSet
  /** When a refresh is due, in epoch milliseconds. */
  readonly refreshAt: number
  /** `Effect.succeed` of the access token, built once for the hot path. */
  readonly success: Effect.Effect<Redacted.Redacted<string>>
}

const { Dead, Fresh, Rejected, Unpersisted } = Data.taggedEnum<Entry>()

const usable = (tokens: TokenSet.TokenSet, refreshAt: number): Usable => ({
  tokens,
  refreshAt,
  success: Effect.succeed(tokens.accessToken)
})

/** @internal */
export type Live = Extract<Entry, { readonly _tag: "Fresh" | "Unpersisted" }>

/** @internal */
export const fresh = (tokens: TokenSet.TokenSet, version: number, refreshAt: number): Live =>
  Fresh({ ...usable(tokens, refreshAt), version })

/** @internal */
export const unpersisted = (tokens: TokenSet.TokenSet, base: number | null, refreshAt: number): Live =>
  Unpersisted({ ...usable(tokens, refreshAt), base })

/** @internal */
export const rejected = (entry: Live): Entry =>
  Rejected({
    tokens: entry.tokens,
    version: entry._tag === "Fresh" ? entry.version : entry.base,
    unpersisted: entry._tag === "Unpersisted"
  })

/** @internal */
export const dead = (
  version: number | null,
  reason: ReauthorizationRequired["reason"],
  tokens?: TokenSet.TokenSet
): Entry =>
  Dead({
    version,
    reason,
    tokens,
    until: tokens === undefined ? 0 : DateTime.toEpochMillis(tokens.expiresAt),
    success: tokens === undefined ? undefined : Effect.succeed(tokens.accessToken)
  })

/** Whether eviction may drop the entry: only what the store also knows. */
const evictable = (entry: Entry): boolean => entry._tag === "Fresh" || (entry._tag === "Rejected" && !entry.unpersisted)

/** @internal */
export interface TokenCache {
  /** The key's entry; marks it most recently used. */
  readonly get: (key: string) => Entry | undefined
  readonly set: (key: string, entry: Entry) => void
  readonly delete: (key: string) => void
  readonly size: () => number
}

/** @internal */
export const make = (capacity: number): TokenCache => {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const entries = new Map<string, Entry>()
  let last: string | undefined

  const touch = (key: string, entry: Entry) => {
    if (last === key) return
    entries.delete(key)
    entries.set(key, entry)
    last = key
  }

  const evict = () => {
    for (const [key, entry] of entries) {
      if (evictable(entry)) {
        entries.delete(key)
        if (last === key) last = undefined
        return
      }
    }
  }

  return {
    get: (key) => {
      const entry = entries.get(key)
      if (entry !== undefined) touch(key, entry)
      return entry
    },
    set: (key, entry) => {
      if (!entries.has(key) && entries.size >= capacity) evict()
      entries.delete(key)
      entries.set(key, entry)
      last = key
    },
    delete: (key) => {
      entries.delete(key)
      if (last === key) last = undefined
    },
    size: () => entries.size
  }
}
