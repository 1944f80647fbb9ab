import { AccessTokens, OAuthClient } from "@effect-oauth/core"
import { ProviderMetadata, UserInfo } from "@effect-oauth/oidc"
import { FakeOpenIdProvider } from "@effect-oauth/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { layerWithAccessTokens, signIn } from "./utils.js"

const layer = UserInfo.layer.pipe(
  Layer.provideMerge(
    layerWithAccessTokens({ provider: { claims: (user) => ({ name: `User ${user}`, email_verified: "yes" }) } })
  )
)

describe("UserInfo", () => {
  it.effect("userinfo answers the signed-in user's claims, with the Bearer token from AccessTokens (OIDC Core 5.3)", () =>
    Effect.provide(
      Effect.gen(function*() {
        const accessTokens = yield* AccessTokens.AccessTokens
        const userInfo = yield* UserInfo.UserInfo
        yield* accessTokens.save("ann", yield* signIn({ user: "ann" }))
        const info = yield* userInfo.userinfo("ann")
        assert.strictEqual(info.sub, "ann")
        assert.strictEqual(info.name, "User ann")
        // a standard claim of the wrong type is kept aside, not a failure
        assert.isUndefined(info.email_verified)
        assert.strictEqual(info.other.email_verified, "yes")
      }),
      layer
    ))

  it.effect("a userinfo answer about another sub is not used (OIDC Core 5.3.4)", () =>
    Effect.provide(
      Effect.gen(function*() {
        const accessTokens = yield* AccessTokens.AccessTokens
        const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
        const userInfo = yield* UserInfo.UserInfo
        yield* accessTokens.save("ann", yield* signIn({ user: "ann" }))
        yield* provider.setUserinfoSubject("mallory")
        const error = yield* Effect.flip(userInfo.userinfo("ann"))
        assert.strictEqual(error._tag, "UserInfoError")
        assert.strictEqual((error as { reason: string }).reason, "SubjectMismatch")
      }),
      layer
    ))

  it.effect("a rejected access token is invalidated, refreshed and the request made once more (S25)", () =>
    Effect.provide(
      Effect.gen(function*() {
        const accessTokens = yield* AccessTokens.AccessTokens
        const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
        const userInfo = yield* UserInfo.UserInfo
        const tokens = yield* signIn({ user: "ann" })
        yield* accessTokens.save("ann", tokens)
        // the access token alone is revoked: the userinfo endpoint answers 401 to it
        const client = yield* OAuthClient.OAuthClient
        yield* client.revoke(tokens.accessToken, "access_token")
        const info = yield* userInfo.userinfo("ann")
        assert.strictEqual(info.sub, "ann")
        assert.strictEqual(yield* provider.userinfoRequests, 2)
      }),
      layer
    ))
})

describe("ProviderMetadata", () => {
  it.effect("discovery reads jwks_uri, userinfo_endpoint and id_token_signing_alg_values_supported", () =>
    Effect.provide(
      Effect.gen(function*() {
        const metadata = yield* ProviderMetadata.discover("https://op.example.test")
        assert.strictEqual(metadata.jwksUri, "https://op.example.test/oidc/jwks")
        assert.strictEqual(metadata.userinfoEndpoint, "https://op.example.test/oidc/userinfo")
        assert.deepStrictEqual(metadata.idTokenSigningAlgValuesSupported, ["RS256"])
      }),
      FakeOpenIdProvider.layerWithHttpClient({ issuer: "https://op.example.test" })
    ))

  it.effect("a discovery document naming another issuer is rejected (S31)", () =>
    Effect.provide(
      Effect.gen(function*() {
        const error = yield* Effect.flip(ProviderMetadata.discover("https://op.example.test"))
        assert.strictEqual(error.reason, "IssuerMismatch")
      }),
      FakeOpenIdProvider.layerWithHttpClient({
        issuer: "https://op.example.test",
        metadataIssuer: "https://evil.example.test"
      })
    ))

  it.effect("a discovery document with thousands of invalid values fails with one bounded detail (S34)", () =>
    Effect.gen(function*() {
      const document = {
        issuer: "https://op.example.test",
        jwks_uri: "https://op.example.test/jwks",
        id_token_signing_alg_values_supported: Array.from({ length: 20_000 }, (_, i) => i)
      }
      const provider = HttpClient.make((request) =>
        Effect.succeed(HttpClientResponse.fromWeb(request, Response.json(document)))
      )
      const error = yield* Effect.flip(
        ProviderMetadata.discover("https://op.example.test").pipe(
          Effect.provideService(HttpClient.HttpClient, provider)
        )
      )
      assert.strictEqual(error.reason, "InvalidMetadata")
      assert.include(error.detail ?? "", "id_token_signing_alg_values_supported")
      assert.isBelow(error.message.length, 2_000)
    }))
})
