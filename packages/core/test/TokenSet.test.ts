import { TokenSet } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { inspect } from "node:util"

const tokenSetArbitrary = FastCheck.record({
  access: FastCheck.string({ minLength: 1, maxLength: 200 }),
  refresh: FastCheck.option(FastCheck.string({ minLength: 1, maxLength: 200 }), { nil: undefined }),
  issued: FastCheck.integer({ min: 0, max: 4_000_000_000_000 }),
  lifetime: FastCheck.integer({ min: 0, max: 10_000_000 }),
  refreshLifetime: FastCheck.option(FastCheck.integer({ min: 0, max: 100_000_000 }), { nil: undefined }),
  scopes: FastCheck.array(FastCheck.string({ minLength: 1 }), { maxLength: 4 })
}).map(({ access, issued, lifetime, refresh, refreshLifetime, scopes }) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(access),
    tokenType: "Bearer",
    refreshToken: Option.map(Option.fromNullable(refresh), Redacted.make),
    issuedAt: DateTime.unsafeMake(issued),
    expiresAt: DateTime.unsafeMake(issued + lifetime * 1000),
    refreshExpiresAt: Option.map(Option.fromNullable(refreshLifetime), (s) => DateTime.unsafeMake(issued + s * 1000)),
    scopes
  })
)

describe("TokenSet", () => {
  it.effect.prop(
    "the stored encoding round-trips every token set",
    { tokens: tokenSetArbitrary },
    ({ tokens }) =>
      Effect.gen(function*() {
        const json = yield* Schema.encode(TokenSet.StoredJson)(tokens)
        const back = yield* Schema.decode(TokenSet.StoredJson)(json)
        assert.strictEqual(Redacted.value(back.accessToken), Redacted.value(tokens.accessToken))
        assert.deepStrictEqual(
          Option.map(back.refreshToken, Redacted.value),
          Option.map(tokens.refreshToken, Redacted.value)
        )
        assert.isTrue(DateTime.Equivalence(back.expiresAt, tokens.expiresAt))
        assert.isTrue(DateTime.Equivalence(back.issuedAt, tokens.issuedAt))
        assert.deepStrictEqual(
          Option.map(back.refreshExpiresAt, DateTime.toEpochMillis),
          Option.map(tokens.refreshExpiresAt, DateTime.toEpochMillis)
        )
        assert.deepStrictEqual(back.scopes, tokens.scopes)
      })
  )

  it.effect("a corrupt stored record is a typed error (S28)", () =>
    Effect.gen(function*() {
      for (
        const bad of ["", "{", "null", "[]", "{\"accessToken\":\"a\"}", "{\"accessToken\":1,\"tokenType\":\"Bearer\"}"]
      ) {
        const error = yield* Effect.flip(Schema.decode(TokenSet.StoredJson)(bad))
        assert.strictEqual(error._tag, "ParseError")
      }
    }))

  it.effect("a __proto__ key in a stored record's extra fields never becomes their prototype (S28)", () =>
    Effect.gen(function*() {
      const tokens = new TokenSet.TokenSet({
        accessToken: Redacted.make("at_1"),
        tokenType: "Bearer",
        refreshToken: Option.none(),
        refreshExpiresAt: Option.none(),
        expiresAt: DateTime.unsafeMake(3_600_000),
        issuedAt: DateTime.unsafeMake(0),
        scopes: [],
        extraFields: Redacted.make({ tenant: "acme" })
      })
      const text = (yield* Schema.encode(TokenSet.StoredJson)(tokens)).replace(
        "\"tenant\":\"acme\"",
        "\"tenant\":\"acme\",\"__proto__\":{\"polluted\":true}"
      )
      assert.include(text, "__proto__")
      const fields = Redacted.value((yield* Schema.decode(TokenSet.StoredJson)(text)).extraFields)
      assert.strictEqual(Object.getPrototypeOf(fields), Object.prototype)
      assert.isUndefined((fields as { polluted?: unknown }).polluted)
      assert.strictEqual(fields.tenant, "acme")
    }))

  it.prop(
    "tokens never show in String, JSON.stringify or util.inspect (S26)",
    { tokens: tokenSetArbitrary.filter((t) => Redacted.value(t.accessToken).length >= 6) },
    ({ tokens }) => {
      const secret = Redacted.value(tokens.accessToken)
      for (const text of [String(tokens), JSON.stringify(tokens), inspect(tokens, { depth: 10 }), tokens.toString()]) {
        assert.notInclude(text, secret)
      }
    }
  )

  it("refresh is due within the window before expiry, and the refresh token is tracked to its lifetime (S24)", () => {
    const issued = DateTime.unsafeMake(0)
    const tokens = new TokenSet.TokenSet({
      accessToken: Redacted.make("a"),
      tokenType: "Bearer",
      refreshToken: Option.some(Redacted.make("r")),
      issuedAt: issued,
      expiresAt: DateTime.addDuration(issued, Duration.hours(1)),
      refreshExpiresAt: Option.some(DateTime.addDuration(issued, Duration.days(30))),
      scopes: []
    })
    assert.isFalse(tokens.needsRefresh(DateTime.unsafeMake(3_539_999), "60 seconds"))
    assert.isTrue(tokens.needsRefresh(DateTime.unsafeMake(3_540_000), "60 seconds"))
    assert.isFalse(tokens.needsRefresh(DateTime.unsafeMake(3_599_999)))
    assert.isTrue(tokens.needsRefresh(DateTime.unsafeMake(3_600_000)))
    assert.isFalse(tokens.refreshExpired(DateTime.unsafeMake(30 * 86_400_000 - 1)))
    assert.isTrue(tokens.refreshExpired(DateTime.unsafeMake(30 * 86_400_000)))
  })
})
