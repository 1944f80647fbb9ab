import type { OAuthError } from "@effect-oauth/core"
import { AccessTokens, OAuthClient, TokenStore } from "@effect-oauth/core"
import { IdTokenClaims, IdTokens, JwksCache } from "@effect-oauth/oidc"
import { FakeOpenIdProvider } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { inspect } from "node:util"
import { layer, layerWithAccessTokens, type Services, signIn, type TestOptions } from "./utils.js"

const withProvider = <A, E>(effect: Effect.Effect<A, E, Services>, options?: TestOptions) =>
  Effect.provide(effect, layer(options))

/** The sign-in fails with `InvalidIdToken` for `check`, and its error carries no token. */
const rejects = (
  fault: FakeOpenIdProvider.IdTokenFault,
  check: OAuthError.InvalidIdToken["check"],
  options?: TestOptions & {
    readonly authorize?: OAuthClient.AuthorizeOptions
  }
) =>
  withProvider(
    Effect.gen(function*() {
      const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
      yield* provider.injectIdTokenFault(fault)
      const error = yield* Effect.flip(signIn({ authorize: options?.authorize }))
      assert.strictEqual(error._tag, "InvalidIdToken")
      const invalid = error as OAuthError.InvalidIdToken
      assert.strictEqual(invalid.check, check)
      assert.strictEqual(invalid.during, "exchange")
      assert.include(invalid.message, `"${check}"`)
      for (const text of [invalid.message, JSON.stringify(invalid), inspect(invalid), String(invalid)]) {
        assert.notMatch(text, /eyJ[A-Za-z0-9_-]{10,}/, "no JWT in the error")
      }
      // A good ID Token right after still signs in: the check rejects the token, not the provider.
      const tokens = yield* signIn()
      assert.isTrue(Option.isSome(tokens.idToken))
    }),
    options
  )

describe("IdTokens against the fake OpenID provider", () => {
  it.effect("a sign-in with openid validates the ID Token and gives its claims (OIDC Core 3.1.3.7)", () =>
    withProvider(Effect.gen(function*() {
      const tokens = yield* signIn({ user: "ann" })
      const claims = Option.getOrThrow(IdTokenClaims.fromTokenSet(tokens))
      assert.strictEqual(claims.sub, "ann")
      assert.strictEqual(claims.iss, "https://op.example.test")
      assert.deepStrictEqual(claims.audiences, ["test-client"])
      assert.isString(claims.nonce)
      assert.isString(claims.at_hash)
      // the ID Token is Redacted in the token set (S26)
      assert.notInclude(inspect(tokens), Redacted.value(Option.getOrThrow(tokens.idToken)))
      assert.notInclude(JSON.stringify(tokens), Redacted.value(Option.getOrThrow(tokens.idToken)))
    })))

  it.effect("the authorization request carries a fresh nonce when openid is requested, and the pending authorization keeps it", () =>
    withProvider(Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const first = yield* client.authorize()
      const second = yield* client.authorize()
      const nonce = first.url.searchParams.get("nonce")
      assert.isAtLeast(nonce?.length ?? 0, 43)
      assert.notStrictEqual(nonce, second.url.searchParams.get("nonce"))
      assert.strictEqual(Redacted.value(Option.getOrThrow(first.pending.nonce)), nonce)
      const plain = yield* client.authorize({ scopes: ["api"] })
      assert.isNull(plain.url.searchParams.get("nonce"))
      assert.isTrue(Option.isNone(plain.pending.nonce))
      // a nonce cannot be replaced through extra parameters
      const forced = yield* client.authorize({ params: { nonce: "chosen" } })
      assert.notStrictEqual(forced.url.searchParams.get("nonce"), "chosen")
    })))

  it.effect("a bad signature is rejected (signature)", () => rejects("bad-signature", "signature"))
  it.effect("alg none is rejected before any key is looked up (algorithm)", () => rejects("alg-none", "algorithm"))
  it.effect("HS256 is rejected unless configured (algorithm)", () => rejects("hs256", "algorithm"))
  it.effect("an unknown kid is rejected after one refetch of the JWKS (key)", () => rejects("unknown-kid", "key"))
  it.effect("another issuer is rejected (issuer)", () => rejects("wrong-iss", "issuer"))
  it.effect("an audience without the client id is rejected (audience)", () => rejects("wrong-aud", "audience"))
  it.effect("several audiences without azp are rejected (azp)", () => rejects("several-aud", "azp"))
  it.effect("an expired ID Token is rejected (expired)", () => rejects("expired", "expired"))
  it.effect("an iat in the future is rejected (issued-at)", () => rejects("future-iat", "issued-at"))
  it.effect("another nonce is rejected (nonce)", () => rejects("wrong-nonce", "nonce"))
  it.effect("a missing nonce is rejected when one was sent (nonce)", () => rejects("no-nonce", "nonce"))
  it.effect("a wrong at_hash is rejected (at_hash)", () => rejects("wrong-at-hash", "at_hash"))
  it.effect("a missing id_token is rejected when openid was requested (missing)", () => rejects("missing", "missing"))
  it.effect("an old auth_time is rejected when max_age was asked (auth_time)", () =>
    rejects("old-auth-time", "auth_time", { authorize: { maxAge: 300 } }))

  it.effect("subjectKey gives the validated sub to key the tokens by, and fails without an ID Token", () =>
    withProvider(Effect.gen(function*() {
      const tokens = yield* signIn({ user: "ann" })
      assert.strictEqual(yield* IdTokenClaims.subjectKey(tokens), "ann")
      const client = yield* OAuthClient.OAuthClient
      const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
      const { pending, url } = yield* client.authorize({ scopes: ["api"] })
      const plain = yield* client.complete(yield* provider.approve(url), pending)
      const error = yield* Effect.flip(IdTokenClaims.subjectKey(plain))
      assert.strictEqual(error.check, "missing")
    })))

  it.effect("an old auth_time is accepted when max_age was not asked", () =>
    withProvider(Effect.gen(function*() {
      const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
      yield* provider.injectIdTokenFault("old-auth-time")
      const tokens = yield* signIn()
      assert.isTrue(Option.isSome(IdTokenClaims.fromTokenSet(tokens)))
    })))

  it.effect("HS256 with the client secret is accepted when configured for it", () =>
    withProvider(
      Effect.gen(function*() {
        const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
        yield* provider.injectIdTokenFault("hs256")
        const tokens = yield* signIn()
        assert.strictEqual(Option.getOrThrow(IdTokenClaims.fromTokenSet(tokens)).sub, "test-user")
      }),
      { oidc: { algorithms: ["RS256", "HS256"] } }
    ))

  it.effect("an algorithm the provider does not announce is rejected (algorithm)", () =>
    withProvider(
      Effect.gen(function*() {
        const error = yield* Effect.flip(signIn())
        assert.strictEqual((error as OAuthError.InvalidIdToken).check, "algorithm")
      }),
      { oidc: { algorithms: ["ES256"] } }
    ))

  it.effect("exp and iat are checked against Effect's Clock with the configured skew", () =>
    withProvider(
      Effect.gen(function*() {
        const ids = yield* IdTokens.IdTokens
        const tokens = yield* signIn()
        const idToken = Option.getOrThrow(tokens.idToken)
        // The fake's ID Tokens live one hour; 10 s of skew.
        yield* TestClock.adjust(Duration.seconds(3600 + 5))
        yield* ids.validate(idToken, { during: "refresh" })
        yield* TestClock.adjust(Duration.seconds(10))
        const error = yield* Effect.flip(ids.validate(idToken, { during: "refresh" }))
        assert.strictEqual(error.check, "expired")
      }),
      { oidc: { clockSkew: Duration.seconds(10) } }
    ))

  it.effect("after the provider rotates its keys, the next validation refetches the JWKS once and succeeds", () =>
    withProvider(Effect.gen(function*() {
      const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
      const jwks = yield* JwksCache.JwksCache
      yield* signIn()
      yield* signIn()
      assert.strictEqual(yield* provider.jwksRequests, 1, "the key set is fetched once and shared")
      yield* TestClock.adjust(Duration.minutes(1))
      yield* provider.rotateKeys()
      yield* signIn()
      assert.strictEqual(yield* provider.jwksRequests, 2)
      assert.strictEqual(yield* jwks.fetches, 2)
    })))

  it.effect("a flood of ID Tokens with unknown kids causes at most one JWKS fetch per cooldown", () =>
    withProvider(Effect.gen(function*() {
      const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
      const ids = yield* IdTokens.IdTokens
      yield* signIn()
      yield* TestClock.adjust(Duration.minutes(1))
      const other = yield* FakeOpenIdProvider.make(provider.server)
      const forged = Redacted.make(
        yield* other.sign({ iss: "https://op.example.test", sub: "x", aud: "test-client", exp: 1e9, iat: 0 })
      )
      const errors = yield* Effect.all(
        Array.from({ length: 50 }, () => Effect.flip(ids.validate(forged, { during: "exchange" }))),
        { concurrency: "unbounded" }
      )
      assert.isTrue(errors.every((error) => error.check === "key"))
      assert.strictEqual(yield* provider.jwksRequests, 2, "one refetch for the whole flood")
      yield* Effect.flip(ids.validate(forged, { during: "exchange" }))
      assert.strictEqual(yield* provider.jwksRequests, 2, "none within the cooldown")
      yield* TestClock.adjust(Duration.seconds(31))
      yield* Effect.flip(ids.validate(forged, { during: "exchange" }))
      assert.strictEqual(yield* provider.jwksRequests, 3, "one more after it")
    })))

  it.effect("a refresh validates its ID Token (OIDC Core 12.2) and a different sub is not adopted", () =>
    Effect.provide(
      Effect.gen(function*() {
        const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
        const accessTokens = yield* AccessTokens.AccessTokens
        const store = yield* TokenStore.TokenStore
        const tokens = yield* signIn({ user: "ann" })
        yield* accessTokens.save("ann", tokens)
        yield* TestClock.adjust(Duration.minutes(59).pipe(Duration.sum(Duration.seconds(30))))
        // a good refresh: new ID Token for the same sub, no nonce required
        const refreshed = yield* accessTokens.tokens("ann")
        assert.notStrictEqual(Redacted.value(refreshed.accessToken), Redacted.value(tokens.accessToken))
        assert.notStrictEqual(
          Redacted.value(Option.getOrThrow(refreshed.idToken)),
          Redacted.value(Option.getOrThrow(tokens.idToken))
        )
        assert.strictEqual(Option.getOrThrow(IdTokenClaims.fromTokenSet(refreshed)).sub, "ann")
        // the next refresh names another user: rejected, and the store keeps the tokens it had
        yield* TestClock.adjust(Duration.minutes(59).pipe(Duration.sum(Duration.seconds(30))))
        yield* provider.injectIdTokenFault("wrong-sub")
        const error = yield* Effect.flip(accessTokens.get("ann"))
        assert.strictEqual(error._tag, "InvalidIdToken")
        assert.strictEqual((error as OAuthError.InvalidIdToken).check, "subject")
        assert.strictEqual((error as OAuthError.InvalidIdToken).during, "refresh")
        const stored = Option.getOrThrow(yield* store.get("ann"))
        assert.strictEqual(Redacted.value(stored.tokens.accessToken), Redacted.value(refreshed.accessToken))
      }),
      layerWithAccessTokens()
    ))

  it.effect("a refresh whose keys cannot be fetched is still checked and adopted: TLS stands for the signature (OIDC Core 3.1.3.7)", () =>
    withProvider(Effect.gen(function*() {
      const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
      const client = yield* OAuthClient.OAuthClient
      const tokens = yield* signIn({ user: "ann" })
      // The provider rotates its keys and its JWKS endpoint is down: the new key cannot be fetched.
      yield* TestClock.adjust(Duration.minutes(1))
      yield* provider.rotateKeys()
      yield* provider.setJwksStatus(503)
      const refreshed = yield* client.refresh(tokens)
      assert.strictEqual(Option.getOrThrow(IdTokenClaims.fromTokenSet(refreshed)).sub, "ann")
      // …but every other check still runs: another sub is rejected
      yield* TestClock.adjust(Duration.minutes(1))
      yield* provider.injectIdTokenFault("wrong-sub")
      const error = yield* Effect.flip(client.refresh(refreshed))
      assert.strictEqual((error as OAuthError.InvalidIdToken).check, "subject")
      // and a sign-in is never accepted without its signature
      const signInError = yield* Effect.flip(signIn())
      assert.strictEqual((signInError as OAuthError.InvalidIdToken).check, "key")
    })))

  it.effect("a refresh ID Token with a bad signature is rejected (OIDC Core 12.2)", () =>
    withProvider(Effect.gen(function*() {
      const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
      const client = yield* OAuthClient.OAuthClient
      const tokens = yield* signIn()
      yield* provider.injectIdTokenFault("bad-signature")
      const error = yield* Effect.flip(client.refresh(tokens))
      assert.strictEqual((error as OAuthError.InvalidIdToken).check, "signature")
      assert.strictEqual((error as OAuthError.InvalidIdToken).during, "refresh")
    })))

  it.effect("a refresh without an ID Token keeps the sign-in's", () =>
    withProvider(
      Effect.gen(function*() {
        const client = yield* OAuthClient.OAuthClient
        const tokens = yield* signIn()
        const refreshed = yield* client.refresh(tokens)
        assert.strictEqual(
          Redacted.value(Option.getOrThrow(refreshed.idToken)),
          Redacted.value(Option.getOrThrow(tokens.idToken))
        )
      }),
      { provider: { idTokenOnRefresh: false } }
    ))
})
