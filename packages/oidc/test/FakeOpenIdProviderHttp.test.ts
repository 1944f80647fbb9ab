/**
 * The fake OpenID provider over real HTTP on 127.0.0.1 (`FakeAuthorizationServerHttp` with
 * `FakeOpenIdProvider.layerServer`), against the live Node client with ID Token validation: discovery,
 * consent form, token, JWKS and userinfo all over sockets.
 */
import { AccessTokens, OAuthClient, OAuthConfig, TokenStore } from "@effect-oauth/core"
import { NodeOAuth } from "@effect-oauth/node"
import { IdTokenClaims, IdTokens, UserInfo } from "@effect-oauth/oidc"
import { FakeAuthorizationServer, FakeAuthorizationServerHttp, FakeOpenIdProvider } from "@effect-oauth/testing"
import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"

const redirectUri = "http://127.0.0.1:3999/callback"

const layerProvider = HttpServer.serve(FakeAuthorizationServerHttp.httpApp).pipe(
  Layer.provideMerge(FakeOpenIdProvider.layerServer),
  Layer.provideMerge(
    Layer.effect(
      FakeOpenIdProvider.FakeOpenIdProvider,
      Effect.gen(function*() {
        const issuer = yield* NodeFakeAuthorizationServer.url
        const server = yield* FakeAuthorizationServer.make({
          issuer,
          scopes: ["openid", "profile"],
          clients: [{ ...FakeAuthorizationServer.defaultClient, redirectUris: [redirectUri] }]
        })
        return yield* FakeOpenIdProvider.make(server, { claims: (user) => ({ name: `User ${user}` }) })
      })
    )
  ),
  Layer.provideMerge(NodeHttpServer.layerServer(() => Http.createServer(), { host: "127.0.0.1", port: 0 }))
)

/** The user approves at the consent page: the form POST, as a browser would send it. */
const consent = (authorizationUrl: URL, user: string) =>
  Effect.promise(async () => {
    const response = await fetch(`${authorizationUrl.origin}${authorizationUrl.pathname}${authorizationUrl.search}`, {
      method: "POST",
      redirect: "manual",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({
        [FakeAuthorizationServerHttp.formFields.decision]: "approve",
        [FakeAuthorizationServerHttp.formFields.user]: user
      })
    })
    return new URL(response.headers.get("location") ?? "")
  })

describe("FakeOpenIdProvider over real HTTP", () => {
  it.scopedLive("a sign-in over sockets gives validated claims whose sub matches userinfo", () =>
    Effect.gen(function*() {
      const providerContext = yield* Layer.build(layerProvider)
      const provider = Context.get(providerContext, FakeOpenIdProvider.FakeOpenIdProvider)
      const issuer = provider.server.options.issuer
      const context = yield* Layer.build(
        UserInfo.layer.pipe(
          Layer.provideMerge(AccessTokens.layer()),
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provideMerge(IdTokens.layerOAuthClient()),
          Layer.provideMerge(OAuthConfig.layerDiscovery(issuer, {
            clientId: FakeAuthorizationServer.defaultClient.clientId,
            clientSecret: Redacted.make(FakeAuthorizationServer.defaultClient.clientSecret),
            redirectUri,
            scopes: ["openid", "profile"]
          })),
          Layer.provideMerge(NodeOAuth.layerHttpClient)
        )
      )
      const client = Context.get(context, OAuthClient.OAuthClient)
      const { pending, url } = yield* client.authorize()
      const tokens = yield* client.complete(yield* consent(url, "ann"), pending)
      const claims = Option.getOrThrow(IdTokenClaims.fromTokenSet(tokens))
      assert.strictEqual(claims.sub, "ann")
      assert.strictEqual(claims.nonce, Redacted.value(Option.getOrThrow(pending.nonce)))
      yield* Context.get(context, AccessTokens.AccessTokens).save("ann", tokens)
      const info = yield* Context.get(context, UserInfo.UserInfo).userinfo("ann")
      assert.strictEqual(info.sub, "ann")
      assert.strictEqual(info.name, "User ann")
      assert.strictEqual(yield* provider.jwksRequests, 1)
    }))
})
