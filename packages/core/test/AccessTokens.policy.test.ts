/**
 * The refresh policy on its own (SPEC S17–S25, S33, S35, S43–S47): `decide` and `adoptable` over
 * arbitrary cache entries, stored records and instants.
 */
import { TokenSet } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Policy from "../src/internal/refreshPolicy.js"
import * as TokenCache from "../src/internal/tokenCache.js"

const minute = 60_000
const t0 = 1_760_000_000_000
const settings: Policy.Settings = { window: minute }

const tokenSet = FastCheck.record({
  n: FastCheck.integer({ min: 0, max: 5 }),
  issuedOffset: FastCheck.integer({ min: 0, max: 120 * minute }),
  lifetime: FastCheck.integer({ min: 0, max: 120 * minute }),
  refresh: FastCheck.boolean()
}).map(({ issuedOffset, lifetime, n, refresh }) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-${n}`),
    tokenType: "Bearer",
    refreshToken: refresh ? Option.some(Redacted.make(`rt-${n}`)) : Option.none(),
    expiresAt: DateTime.unsafeMake(t0 + issuedOffset + lifetime),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(t0 + issuedOffset),
    scopes: []
  })
)

const version = FastCheck.option(FastCheck.integer({ min: 1, max: 4 }), { nil: null })

const stored = FastCheck.option(FastCheck.record({ tokens: tokenSet, version }), { nil: undefined })

const cached = FastCheck.oneof(
  FastCheck.constant(undefined),
  FastCheck.record({ tokens: tokenSet, version: FastCheck.integer({ min: 1, max: 4 }) }).map(({ tokens, version }) =>
    TokenCache.fresh(tokens, version, Policy.refreshAt(tokens, settings))
  ),
  FastCheck.record({ tokens: tokenSet, version }).map(({ tokens, version }) =>
    TokenCache.unpersisted(tokens, version, Policy.refreshAt(tokens, settings))
  ),
  FastCheck.record({ tokens: tokenSet, version: FastCheck.integer({ min: 1, max: 4 }) }).map(({ tokens, version }) =>
    TokenCache.rejected(TokenCache.fresh(tokens, version, 0))
  ),
  FastCheck.record({ version }).map(({ version }) => TokenCache.dead(version, "refresh-token-rejected"))
)

const now = FastCheck.integer({ min: t0, max: t0 + 300 * minute })

const due = (tokens: TokenSet.TokenSet, at: number) => at >= Policy.refreshAt(tokens, settings)

describe("refresh policy", () => {
  it.prop(
    "decide refreshes only a due or rejected record, writes back only what the store lacks, and never sends a dead record's refresh token (S18, S19, S21, S24, S25)",
    { cached, stored, now },
    ({ cached, now, stored }) => {
      const record = Option.fromNullable(stored)
      const decision = Policy.decide(cached, record, now, settings)
      const mine = cached?._tag === "Unpersisted"
        ? cached
        : cached?._tag === "Rejected" && cached.unpersisted
        ? cached
        : undefined
      switch (decision._tag) {
        case "WriteBack": {
          assert.isDefined(mine, "a write back without unpersisted tokens")
          assert.strictEqual(decision.tokens, mine?.tokens)
          if (stored !== undefined) assert.strictEqual(decision.expectedVersion, stored.version)
          return
        }
        case "Refresh": {
          assert.isDefined(stored)
          if (stored === undefined) return
          assert.strictEqual(decision.tokens, stored.tokens)
          assert.strictEqual(decision.version, stored.version)
          const rejected = cached?._tag === "Rejected" &&
            Redacted.value(cached.tokens.accessToken) === Redacted.value(stored.tokens.accessToken)
          assert.isTrue(due(stored.tokens, now) || rejected, "a refresh of tokens that are neither due nor rejected")
          assert.isFalse(cached?._tag === "Dead" && cached.version === stored.version, "a dead record was refreshed")
          return
        }
        case "Adopt": {
          assert.isDefined(stored)
          if (stored === undefined) return
          assert.strictEqual(decision.tokens, stored.tokens)
          if (due(stored.tokens, now)) {
            // Due tokens are adopted only while valid, and only when they are newer than the ones that
            // made this process refresh (S46); the store holds no possibly-spent mark here (S44).
            const basis = cached === undefined || cached._tag === "Dead"
              ? undefined
              : cached._tag === "Unpersisted"
              ? cached.base
              : cached.version
            assert.isFalse(decision.possiblySpent)
            assert.isTrue(now < DateTime.toEpochMillis(stored.tokens.expiresAt), "adopted tokens that expired")
            assert.isTrue(basis !== undefined && basis !== stored.version, "adopted due tokens that are not newer")
          }
          return
        }
        case "Reauthorize": {
          if (stored === undefined) {
            assert.isUndefined(mine)
            assert.strictEqual(decision.reason, "no-tokens")
          } else {
            assert.isTrue(cached?._tag === "Dead" && cached.version === stored.version)
          }
          return
        }
      }
    }
  )

  it.prop(
    "the refresh point is the window before expiry, but never before half the token's lifetime (S24, S35)",
    { tokens: tokenSet },
    ({ tokens }) => {
      const expires = DateTime.toEpochMillis(tokens.expiresAt)
      const issued = DateTime.toEpochMillis(tokens.issuedAt)
      const at = Policy.refreshAt(tokens, settings)
      assert.isAtLeast(at, issued + (expires - issued) / 2)
      assert.isAtLeast(at, expires - settings.window)
      assert.isAtMost(at, expires)
    }
  )

  it.prop(
    "after invalid_grant a rotation found in the store is used once, otherwise the record is dead (S21)",
    { sent: tokenSet, reread: stored, now, retried: FastCheck.boolean() },
    ({ now, reread, retried, sent }) => {
      const decision = Policy.afterRejection(
        { tokens: sent, version: 1 },
        Option.fromNullable(reread),
        now,
        settings,
        retried
      )
      const rotated = reread !== undefined &&
        Option.getOrUndefined(Option.map(reread.tokens.refreshToken, Redacted.value)) !==
          Option.getOrUndefined(Option.map(sent.refreshToken, Redacted.value))
      if (!retried && rotated) {
        assert.notStrictEqual(decision._tag, "Reauthorize")
        if (decision._tag === "Refresh") assert.strictEqual(decision.tokens, reread?.tokens)
      } else {
        assert.strictEqual(decision._tag, "Reauthorize")
      }
    }
  )

  it.prop(
    "adoptable takes, without the lock, only a newer record that decide adopts as fresh: never a possibly-spent, due, expired or rejected one (S44, S46, S47)",
    {
      cached,
      stored: FastCheck.option(
        FastCheck.record({ tokens: tokenSet, version, marked: FastCheck.boolean() }),
        { nil: undefined }
      ),
      now
    },
    ({ cached, now, stored }) => {
      const record = Option.fromNullable(stored).pipe(Option.map(({ marked, tokens, version }) => ({
        tokens,
        version,
        ...(marked ? { refreshSentAt: DateTime.unsafeMake(t0) } : {})
      })))
      const found = Policy.adoptable(cached, record, now, settings)
      if (Option.isNone(found)) return
      assert.isDefined(stored)
      if (stored === undefined) return
      assert.isFalse(stored.marked, "adopted a possibly-spent record without the lock")
      assert.isFalse(due(stored.tokens, now), "adopted due tokens without the lock")
      assert.isTrue(now < DateTime.toEpochMillis(stored.tokens.expiresAt), "adopted tokens that expired")
      assert.isTrue(
        cached === undefined || ((cached._tag === "Fresh" || cached._tag === "Rejected") &&
          cached.version !== stored.version),
        "adopted a record that is not newer than the cached one"
      )
      assert.strictEqual(found.value.tokens, stored.tokens)
      assert.strictEqual(found.value.version, stored.version)
      const decision = Policy.decide(cached, record, now, settings)
      assert.strictEqual(decision._tag, "Adopt", "adoptable disagrees with decide")
      if (decision._tag !== "Adopt") return
      assert.strictEqual(decision.tokens, stored.tokens)
      assert.isFalse(decision.possiblySpent)
      assert.isFalse(decision.unpersisted)
    }
  )
})
