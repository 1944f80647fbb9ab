import { FakeOpenIdProvider } from "@effect-oauth/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Jose from "jose"
import { createHash, randomBytes } from "node:crypto"

const issuer = "https://op.example.test"
const layer = FakeOpenIdProvider.layerWithHttpClient({ issuer, requirePkce: true })

/** The whole code flow by hand, with the provider's `approve`: the token response's JSON. */
const codeFlow = (nonce: string | undefined) =>
  Effect.gen(function*() {
    const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
    const http = yield* HttpClient.HttpClient
    const verifier = randomBytes(32).toString("base64url")
    const url = new URL(provider.server.endpoints.authorization)
    url.search = new URLSearchParams({
      response_type: "code",
      client_id: "test-client",
      redirect_uri: "http://127.0.0.1:3000/callback",
      scope: "openid",
      state: "s".repeat(22),
      code_challenge: createHash("sha256").update(verifier).digest("base64url"),
      code_challenge_method: "S256",
      ...(nonce === undefined ? {} : { nonce })
    }).toString()
    const callback = yield* provider.approve(url, { user: "ann" })
    const response = yield* http.execute(
      HttpClientRequest.post(provider.server.endpoints.token).pipe(
        HttpClientRequest.bodyUrlParams({
          grant_type: "authorization_code",
          code: callback.searchParams.get("code") ?? "",
          redirect_uri: "http://127.0.0.1:3000/callback",
          code_verifier: verifier,
          client_id: "test-client",
          client_secret: "test-secret"
        })
      )
    )
    return (yield* response.json) as { readonly access_token: string; readonly id_token?: string }
  })

const keySet = Effect.gen(function*() {
  const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
  const http = yield* HttpClient.HttpClient
  const response = yield* http.get(provider.jwksUri)
  return Jose.createLocalJWKSet((yield* response.json) as Jose.JSONWebKeySet)
})

const verifies = (jwt: string, keys: Jose.LocalJWKSet) =>
  // the signature only: the fake runs on the TestClock, whose time starts at 0
  Effect.promise(() => Jose.compactVerify(jwt, keys).then(() => true, () => false))

describe("FakeOpenIdProvider", () => {
  it.effect("ID Tokens verify with jose against the published JWKS and carry the nonce, sub, aud and at_hash", () =>
    Effect.provide(
      Effect.gen(function*() {
        const body = yield* codeFlow("n-123")
        const idToken = body.id_token ?? ""
        assert.isTrue(yield* verifies(idToken, yield* keySet))
        const claims = Jose.decodeJwt(idToken)
        assert.strictEqual(claims.iss, issuer)
        assert.strictEqual(claims.sub, "ann")
        assert.strictEqual(claims.aud, "test-client")
        assert.strictEqual(claims.nonce, "n-123")
        assert.strictEqual(claims.at_hash, FakeOpenIdProvider.atHash(body.access_token))
      }),
      layer
    ))

  it.effect("after a rotation the JWKS publishes only the new key, so an old ID Token no longer verifies", () =>
    Effect.provide(
      Effect.gen(function*() {
        const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
        const old = (yield* codeFlow(undefined)).id_token ?? ""
        yield* provider.rotateKeys()
        const keys = yield* keySet
        assert.isFalse(yield* verifies(old, keys))
        assert.isTrue(yield* verifies((yield* codeFlow(undefined)).id_token ?? "", keys))
        assert.strictEqual((yield* provider.jwks).keys.length, 1)
      }),
      layer
    ))

  it.effect("faults make the next ID Token wrong in the way they name", () =>
    Effect.provide(
      Effect.gen(function*() {
        const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
        const keys = yield* keySet
        const next = (fault: FakeOpenIdProvider.IdTokenFault) =>
          Effect.zipRight(provider.injectIdTokenFault(fault), Effect.map(codeFlow("n"), (body) => body.id_token))
        assert.isFalse(yield* verifies((yield* next("bad-signature")) ?? "", keys))
        assert.strictEqual(Jose.decodeProtectedHeader((yield* next("alg-none")) ?? "").alg, "none")
        const unknown = Jose.decodeProtectedHeader((yield* next("unknown-kid")) ?? "").kid
        assert.isFalse((yield* provider.jwks).keys.some((key) => key.kid === unknown))
        assert.strictEqual(Jose.decodeJwt((yield* next("wrong-aud")) ?? "").aud, "another-client")
        assert.notStrictEqual(Jose.decodeJwt((yield* next("wrong-iss")) ?? "").iss, issuer)
        assert.strictEqual(Jose.decodeJwt((yield* next("wrong-nonce")) ?? "").nonce, "nx")
        // the TestClock is at 0: an hour ago
        assert.strictEqual(Jose.decodeJwt((yield* next("expired")) ?? "").exp, -3600)
        assert.isUndefined(yield* next("missing"))
        // and the one after is good again
        assert.isTrue(yield* verifies((yield* codeFlow("n")).id_token ?? "", keys))
      }),
      layer
    ))

  it.effect("userinfo answers the token's user and refuses a request without a token", () =>
    Effect.provide(
      Effect.gen(function*() {
        const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
        const http = yield* HttpClient.HttpClient
        const body = yield* codeFlow(undefined)
        const info = yield* http.execute(
          HttpClientRequest.get(provider.userinfoEndpoint).pipe(HttpClientRequest.bearerToken(body.access_token))
        )
        assert.deepStrictEqual(yield* info.json, { sub: "ann" })
        const anonymous = yield* http.get(provider.userinfoEndpoint)
        assert.strictEqual(anonymous.status, 401)
      }),
      layer
    ))
})
