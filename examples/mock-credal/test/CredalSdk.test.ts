/**
 * The real `@credal/sdk` against the mock Credal over HTTP on 127.0.0.1, with tokens from
 * `AccessTokens` through `CredalSdk` of `@effect-oauth/node`.
 */
import { CredalClient, CredalError } from "@credal/sdk"
import { AccessTokens, OAuthClient, OAuthError, TokenStore } from "@effect-oauth/core"
import { CredalSdk, NodeOAuth } from "@effect-oauth/node"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as OAuthTest from "@effect-oauth/testing/OAuthTest"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as MockCredal from "../src/MockCredal.js"

const { Fault } = FakeAuthorizationServer

/** The mock on a free port, the live client configured for it, and a signed-in `ada`. */
const setup = Effect.gen(function*() {
  const mock = yield* Layer.build(MockCredal.layer())
  const server = Context.get(mock, FakeAuthorizationServer.FakeAuthorizationServer)
  const urls = server.endpoints
  const tokens = yield* Layer.build(
    AccessTokens.layer().pipe(
      Layer.provideMerge(TokenStore.layerMemory),
      Layer.provideMerge(NodeOAuth.layer(OAuthTest.clientOptions({ issuer: urls.issuer }, {
        authorizationEndpoint: urls.authorization,
        tokenEndpoint: urls.token,
        revocationEndpoint: urls.revocation,
        issuer: urls.issuer
      })))
    )
  )
  yield* Effect.gen(function*() {
    const oauth = yield* OAuthClient.OAuthClient
    const { pending, url } = yield* oauth.authorize()
    const signedIn = yield* oauth.complete(yield* server.approve(url, { user: "ada" }), pending)
    yield* Effect.flatMap(AccessTokens.AccessTokens, (accessTokens) => accessTokens.save("ada", signedIn))
  }).pipe(Effect.provide(tokens))
  yield* server.clearLog
  return { server, tokens, environment: MockCredal.sdkEnvironment(urls.issuer) }
})

const credalFor = (key: string, environment: string) =>
  Effect.map(CredalSdk.clientOptions(key, { environment }), (options) => {
    // The options are what the SDK's constructor takes.
    const sdkOptions: CredalClient.Options = options
    return new CredalClient(sdkOptions)
  })

describe("CredalSdk with the real @credal/sdk", () => {
  it.scopedLive("the SDK's createConversation and sendMessage reach the mock with the key's access token", () =>
    Effect.gen(function*() {
      const { environment, server, tokens } = yield* setup
      const credal = yield* Effect.provide(credalFor("ada", environment), tokens)
      const conversation = yield* Effect.promise(() =>
        credal.copilots.createConversation({ agentId: "agent-1", userEmail: "ada@example.com" })
      )
      assert.match(conversation.conversationId, /^conv_/)
      const sent = yield* Effect.promise(() =>
        credal.copilots.sendMessage({
          agentId: "agent-1",
          message: "hello",
          userEmail: "ada@example.com",
          conversationId: conversation.conversationId
        })
      )
      assert.strictEqual(sent.sendChatResult.type, "ai_response_result")
      assert.strictEqual(sent.sendChatResult.conversationId, conversation.conversationId)
      if (sent.sendChatResult.type === "ai_response_result") {
        assert.strictEqual(sent.sendChatResult.response.message, "echo: hello")
      }
      const requests = yield* server.requests
      assert.isTrue(
        requests.every((request) => request.headers["authorization"] !== "Bearer set-by-the-effect-oauth-fetcher")
      )
      assert.strictEqual((yield* server.counters).api, 2)
    }))

  it.scopedLive("a 401 from the API makes one forced refresh and one retry, never a loop (S25)", () =>
    Effect.gen(function*() {
      const { environment, server, tokens } = yield* setup
      const credal = yield* Effect.provide(credalFor("ada", environment), tokens)
      yield* server.inject(Fault.Status({ endpoint: "api", status: 401, body: "{\"error\":\"invalid_token\"}" }))
      const sent = yield* Effect.promise(() =>
        credal.copilots.sendMessage({ agentId: "agent-1", message: "again", userEmail: "ada@example.com" })
      )
      assert.strictEqual(sent.sendChatResult.type, "ai_response_result")
      const counters = yield* server.counters
      assert.strictEqual(counters.refreshToken, 1)
      assert.strictEqual(counters.api, 2)

      // Rejected every time: one refresh, one retry, then the SDK's own error with the status.
      yield* server.clearLog
      yield* server.inject(Fault.Status({ endpoint: "api", status: 401, times: 10 }))
      const error = yield* Effect.promise(() =>
        credal.copilots.sendMessage({ agentId: "agent-1", message: "no", userEmail: "ada@example.com" }).then(
          () => undefined,
          (cause: unknown) => cause
        )
      )
      assert.instanceOf(error, CredalError)
      assert.strictEqual(error instanceof CredalError ? error.statusCode : 0, 401)
      const after = yield* server.counters
      assert.strictEqual(after.refreshToken, 1)
      assert.strictEqual(after.api, 2)
    }))

  it.scopedLive("a key without a grant fails the SDK call with CredalError carrying ReauthorizationRequired, not a FiberFailure", () =>
    Effect.gen(function*() {
      const { environment, server, tokens } = yield* setup
      const credal = yield* Effect.provide(credalFor("nobody", environment), tokens)
      const error = yield* Effect.promise(() =>
        credal.copilots.sendMessage({ agentId: "agent-1", message: "hi", userEmail: "x@example.com" }).then(
          () => undefined,
          (cause: unknown) => cause
        )
      )
      assert.instanceOf(error, CredalError)
      assert.strictEqual(error instanceof CredalError ? error.statusCode : 0, 401)
      assert.deepStrictEqual(CredalSdk.errorTag(error), Option.some("ReauthorizationRequired"))
      assert.notInclude(String(error), "FiberFailure")
      assert.strictEqual((yield* server.counters).api, 0)
    }))

  it.scopedLive("the apiKey supplier answers a fresh token at once and rejects with the typed error itself", () =>
    Effect.gen(function*() {
      const { environment, server, tokens } = yield* setup
      const supplier = yield* Effect.provide(CredalSdk.apiKey("ada"), tokens)
      const first = yield* Effect.promise(() => Promise.resolve(supplier()))
      const second = supplier()
      assert.strictEqual(typeof second, "string")
      assert.strictEqual(second, first)
      assert.isTrue(yield* server.isAccessTokenValid(first))

      const credal = new CredalClient({ apiKey: supplier, environment })
      const sent = yield* Effect.promise(() =>
        credal.copilots.sendMessage({ agentId: "agent-1", message: "supplied", userEmail: "ada@example.com" })
      )
      assert.strictEqual(sent.sendChatResult.type, "ai_response_result")

      const missing = yield* Effect.provide(CredalSdk.apiKey("nobody"), tokens)
      const error = yield* Effect.promise(() =>
        Promise.resolve(missing()).then(() => undefined, (cause: unknown) => cause)
      )
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
    }))
})
