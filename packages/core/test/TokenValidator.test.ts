import { OAuthClient, OAuthError, PendingAuthorization, TokenSet, TokenValidator } from "@effect-oauth/core"
import { OAuthTest } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { inspect } from "node:util"

const rejecting = (during: "exchange" | "refresh"): TokenValidator.Service => ({
  exchange: () =>
    during === "exchange" ? Effect.fail(new OAuthError.InvalidIdToken({ check: "nonce", during })) : Effect.void,
  refresh: () =>
    during === "refresh" ? Effect.fail(new OAuthError.InvalidIdToken({ check: "subject", during })) : Effect.void
})

const withValidator = (validator: TokenValidator.Service | undefined, options: OAuthTest.Options = {}) => {
  const base = OAuthTest.layer(options)
  return validator === undefined
    ? base
    : Layer.provide(base, Layer.succeed(TokenValidator.TokenValidator, validator))
}

describe("identity fields of the core", () => {
  it.effect("a stored record written before id_token and extra fields existed still decodes", () =>
    Effect.gen(function*() {
      const old = JSON.stringify({
        accessToken: "at",
        tokenType: "Bearer",
        refreshToken: "rt",
        expiresAt: "2026-01-01T00:00:00.000Z",
        issuedAt: "2026-01-01T00:00:00.000Z",
        scopes: ["a"]
      })
      const tokens = yield* Schema.decode(TokenSet.StoredJson)(old)
      assert.isTrue(Option.isNone(tokens.idToken))
      assert.deepStrictEqual(Redacted.value(tokens.extraFields), {})
      const pending = yield* Schema.decode(PendingAuthorization.Json)(JSON.stringify({
        state: "s",
        redirectUri: "http://127.0.0.1/cb",
        scopes: [],
        createdAt: "2026-01-01T00:00:00.000Z",
        expiresAt: "2026-01-01T00:10:00.000Z"
      }))
      assert.isTrue(Option.isNone(pending.nonce))
      assert.isTrue(Option.isNone(pending.maxAge))
    }))

  it.effect("the id_token and the response's other fields are kept, redacted, and round-trip through the store (S26)", () =>
    Effect.provide(
      Effect.gen(function*() {
        const tokens = yield* OAuthTest.signIn()
        assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.idToken)), "header.payload.signature")
        const extra = Redacted.value(tokens.extraFields)
        assert.deepStrictEqual(extra.team, { id: "T1", secret: "nested-secret" })
        assert.strictEqual(extra.user_id, "u-1")
        assert.isFalse(Object.hasOwn(extra, "__proto__"))
        assert.isFalse(Object.hasOwn(extra, "access_token"))
        assert.isUndefined(extra.huge, "a field over the size bound is left out")
        for (const text of [inspect(tokens), String(tokens), JSON.stringify(tokens)]) {
          assert.notInclude(text, "nested-secret")
          assert.notInclude(text, "header.payload.signature")
        }
        const back = yield* Schema.decode(TokenSet.StoredJson)(yield* Schema.encode(TokenSet.StoredJson)(tokens))
        assert.strictEqual(Redacted.value(Option.getOrThrow(back.idToken)), "header.payload.signature")
        assert.deepStrictEqual(Redacted.value(back.extraFields), extra)
        // a refresh whose answer has its own fields replaces them; the id_token of the sign-in stays when
        // the answer has none
        const client = yield* OAuthClient.OAuthClient
        const refreshed = yield* client.refresh(tokens)
        assert.strictEqual(Redacted.value(Option.getOrThrow(refreshed.idToken)), "header.payload.signature")
      }),
      withValidator(undefined, {
        server: {
          tokenResponseExtras: JSON.parse(
            `{"id_token":"header.payload.signature","team":{"id":"T1","secret":"nested-secret"},"user_id":"u-1","__proto__":{"polluted":true},"huge":"${
              "x".repeat(20_000)
            }"}`
          )
        }
      })
    ))

  it.effect("a nonce is sent only when openid is requested, and max_age is kept in the pending authorization", () =>
    Effect.provide(
      Effect.gen(function*() {
        const client = yield* OAuthClient.OAuthClient
        const plain = yield* client.authorize()
        assert.isFalse(plain.url.searchParams.has("nonce"))
        const oidc = yield* client.authorize({ scopes: ["openid"], maxAge: 600 })
        const nonce = oidc.url.searchParams.get("nonce") ?? ""
        assert.match(nonce, /^[A-Za-z0-9_-]{43}$/)
        assert.strictEqual(Redacted.value(Option.getOrThrow(oidc.pending.nonce)), nonce)
        assert.strictEqual(oidc.url.searchParams.get("max_age"), "600")
        assert.deepStrictEqual(oidc.pending.maxAge, Option.some(600))
        assert.notInclude(inspect(oidc.pending), nonce)
        const back = yield* Schema.decode(PendingAuthorization.Json)(
          yield* Schema.encode(PendingAuthorization.Json)(oidc.pending)
        )
        assert.strictEqual(Redacted.value(Option.getOrThrow(back.nonce)), nonce)
        assert.deepStrictEqual(back.maxAge, Option.some(600))
      }),
      withValidator(undefined)
    ))

  it.effect("a TokenValidator that rejects the exchange fails the sign-in with its error", () =>
    Effect.provide(
      Effect.gen(function*() {
        const error = yield* Effect.flip(OAuthTest.signIn())
        assert.strictEqual(error._tag, "InvalidIdToken")
        assert.strictEqual((error as OAuthError.InvalidIdToken).check, "nonce")
      }),
      withValidator(rejecting("exchange"))
    ))

  it.effect("a TokenValidator that rejects a refresh fails the refresh with its error", () =>
    Effect.provide(
      Effect.gen(function*() {
        const client = yield* OAuthClient.OAuthClient
        const tokens = yield* OAuthTest.signIn()
        const error = yield* Effect.flip(client.refresh(tokens))
        assert.strictEqual(error._tag, "InvalidIdToken")
        assert.strictEqual((error as OAuthError.InvalidIdToken).check, "subject")
      }),
      withValidator(rejecting("refresh"))
    ))
})
