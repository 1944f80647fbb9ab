import { AccessTokens, OAuthClient, OAuthConfig, OAuthError, OAuthHttpClient, TokenStore } from "@effect-oauth/core"
import { NodeOAuth } from "@effect-oauth/node"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
import * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Http.IncomingHttpHeaders
  readonly body: string
}

/** A loopback token endpoint answering with `reply`, recording what it received. */
const tokenServer = (reply: (response: Http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<{ readonly url: string; readonly seen: Array<Seen> }>((resume) => {
      const seen: Array<Seen> = []
      const server = Http.createServer((request, response) => {
        const chunks: Array<Buffer> = []
        request.on("data", (chunk: Buffer) => chunks.push(chunk))
        request.on("end", () => {
          seen.push({
            method: request.method ?? "",
            url: request.url ?? "",
            headers: request.headers,
            body: Buffer.concat(chunks).toString("utf8")
          })
          reply(response)
        })
      })
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        resume(Effect.succeed({ url: `http://127.0.0.1:${port}`, seen, server }))
      })
    }).pipe(Effect.map((value) => value as typeof value & { readonly server?: Http.Server })),
    (value) =>
      Effect.async<void>((resume) => {
        const server = (value as { readonly server?: Http.Server }).server
        if (server === undefined) return resume(Effect.void)
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  )

/** The client, with its live HTTP layer built in the test's scope (a layer's resources live as long as its scope). */
const clientFor = (baseUrl: string) =>
  Effect.map(
    Layer.build(NodeOAuth.layer(OAuthTest.clientOptions({}, {
      authorizationEndpoint: `${baseUrl}/authorize`,
      tokenEndpoint: `${baseUrl}/token`,
      revocationEndpoint: `${baseUrl}/revoke`,
      issuer: undefined
    }))),
    Context.get(OAuthClient.OAuthClient)
  )

describe("NodeOAuth", () => {
  it.scopedLive("the live client sends a form POST over real HTTP and decodes the tokens (S10)", () =>
    Effect.gen(function*() {
      const server = yield* tokenServer((response) => {
        response.writeHead(200, { "content-type": "application/json", "cache-control": "no-store" })
        response.end(
          JSON.stringify({ access_token: "live-at", token_type: "Bearer", expires_in: 3600, refresh_token: "live-rt" })
        )
      })
      const client = yield* clientFor(server.url)
      const tokens = yield* client.refresh(Redacted.make("old-rt")).pipe(
        Effect.tapErrorCause((c) => Effect.sync(() => process.stderr.write(String(JSON.stringify(c)) + "\n")))
      )
      assert.strictEqual(Redacted.value(tokens.accessToken), "live-at")
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)), "live-rt")
      const [request] = server.seen
      assert.strictEqual(request?.method, "POST")
      assert.strictEqual(request?.url, "/token")
      assert.strictEqual(request?.headers["content-type"], "application/x-www-form-urlencoded")
      const form = new URLSearchParams(request?.body)
      assert.strictEqual(form.get("refresh_token"), "old-rt")
      assert.strictEqual(form.get("client_secret"), "test-secret")
    }))

  it.scopedLive("a streamed body over 1 MiB is cut off and rejected (S15, S28)", () =>
    Effect.gen(function*() {
      const server = yield* tokenServer((response) => {
        response.writeHead(200, { "content-type": "application/json" })
        const chunk = "x".repeat(64 * 1024)
        for (let i = 0; i < 40; i++) response.write(chunk)
        response.end()
      })
      const client = yield* clientFor(server.url)
      const error = yield* Effect.flip(client.refresh(Redacted.make("rt")))
      assert.strictEqual((error as OAuthError.HttpError).reason, "TooLarge")
    }))

  it.scopedLive("a refused connection is a transport failure: outcome unknown for a refresh (S22)", () =>
    Effect.gen(function*() {
      const client = yield* clientFor("http://127.0.0.1:9")
      const error = yield* Effect.flip(client.refresh(Redacted.make("rt")))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
    }))

  it.effect("a plain-http endpoint off loopback is refused when the layer is built (S27)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(
          OAuthClient.OAuthClient,
          NodeOAuth.layer(OAuthTest.clientOptions({}, { tokenEndpoint: "http://auth.example.com/token" }))
        )
      )
      assert.instanceOf(error, Object)
      assert.include(error.message, "tokenEndpoint")
    }))

  it.scopedLive("AccessTokens built on NodeOAuth.layer makes authorized calls: the layer keeps its HttpClient available", () =>
    Effect.gen(function*() {
      const fake = yield* Layer.build(NodeFakeAuthorizationServer.layer())
      const server = Context.get(fake, FakeAuthorizationServer.FakeAuthorizationServer)
      const urls = server.endpoints
      const TokensLive = AccessTokens.layer().pipe(
        Layer.provideMerge(TokenStore.layerMemory),
        Layer.provideMerge(NodeOAuth.layer(OAuthTest.clientOptions({ issuer: urls.issuer }, {
          authorizationEndpoint: urls.authorization,
          tokenEndpoint: urls.token,
          revocationEndpoint: urls.revocation,
          issuer: urls.issuer
        })))
      )
      const status = yield* Effect.gen(function*() {
        const oauth = yield* OAuthClient.OAuthClient
        const { pending, url } = yield* oauth.authorize()
        const tokens = yield* oauth.complete(yield* server.approve(url), pending)
        yield* Effect.flatMap(AccessTokens.AccessTokens, (accessTokens) => accessTokens.save("user-1", tokens))
        const http = yield* OAuthHttpClient.make("user-1")
        const response = yield* http.get(`${urls.apiBase}/whoami`)
        return response.status
      }).pipe(Effect.provide(TokensLive))
      assert.strictEqual(status, 200)
      assert.strictEqual((yield* server.counters).api, 1)
    }))

  it.scopedLive("layerDiscovery reads the issuer's metadata over the live client and provides the client and its HttpClient (S31)", () =>
    Effect.gen(function*() {
      const fake = yield* Layer.build(NodeFakeAuthorizationServer.layer())
      const server = Context.get(fake, FakeAuthorizationServer.FakeAuthorizationServer)
      const urls = server.endpoints
      const client = FakeAuthorizationServer.defaultClient
      const context = yield* Layer.build(NodeOAuth.layerDiscovery(urls.issuer, {
        clientId: client.clientId,
        clientSecret: Redacted.make(client.clientSecret),
        redirectUri: client.redirectUris[0] ?? ""
      }))
      const config = Context.get(context, OAuthConfig.OAuthConfig)
      assert.strictEqual(config.tokenEndpoint.href, urls.token)
      assert.deepStrictEqual(config.issuer, Option.some(urls.issuer))
      assert.isTrue(Option.isSome(Context.getOption(context, HttpClient.HttpClient)))
      assert.isTrue(Option.isSome(Context.getOption(context, OAuthClient.OAuthClient)))

      const wrong = yield* Effect.flip(Layer.build(NodeOAuth.layerDiscovery(`${urls.issuer}/other`, {
        clientId: client.clientId,
        clientSecret: Redacted.make(client.clientSecret),
        redirectUri: client.redirectUris[0] ?? ""
      })))
      assert.strictEqual(wrong._tag, "DiscoveryError")
    }))
})
