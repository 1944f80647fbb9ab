/**
 * OAuthHttpClient: the Bearer token of a key on every request, and one forced refresh and one retry
 * of the same request after a 401 for that token (SPEC S25).
 */
import { AccessTokens, OAuthHttpClient } from "@effect-oauth/core"
import { FakeAuthorizationServer } from "@effect-oauth/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { counters, layer, signedIn } from "./utils/accessTokens.js"

const { Fault } = FakeAuthorizationServer

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
}

/**
 * A fake API that records every request and answers 401 to those `rejects`, then 200 or 403 by the fake
 * server's verdict on the Bearer token. With `together`, the first `together` requests are answered
 * only once all of them have arrived.
 */
const recordingApi = (rejects: (seen: Seen, index: number) => boolean, together = 0) =>
  Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const arrived = yield* Deferred.make<void>()
    const seen: Array<Seen> = []
    const client = HttpClient.make((request) =>
      Effect.gen(function*() {
        const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
        const entry = { method: request.method, url: request.url, headers: request.headers, body }
        const index = seen.push(entry) - 1
        if (seen.length === together) yield* Deferred.succeed(arrived, undefined)
        if (index < together) yield* Deferred.await(arrived)
        const bearer = request.headers["authorization"]?.replace(/^Bearer /, "") ?? ""
        const status = rejects(entry, index) ? 401 : (yield* server.isAccessTokenValid(bearer)) ? 200 : 403
        return HttpClientResponse.fromWeb(request, new Response(null, { status }))
      })
    )
    return { client, seen }
  })

/** Rejects the first request only. */
const firstOnly = (_: Seen, index: number) => index === 0

const bearerOf = (seen: Seen | undefined) => seen?.headers["authorization"]

describe("OAuthHttpClient", () => {
  const whoami = Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const http = yield* OAuthHttpClient.make("ann")
    return yield* http.get(`${server.endpoints.apiBase}/whoami`)
  })

  it.effect("requests carry the key's Bearer token", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const first = yield* signedIn("ann")
      const response = yield* whoami
      assert.strictEqual(response.status, 200)
      const [call] = (yield* server.requests).filter((r) => r.endpoint === "api")
      assert.strictEqual(call?.headers["authorization"], `Bearer ${Redacted.value(first.accessToken)}`)
    }).pipe(Effect.provide(layer())))

  it.effect("a 401 for the token just sent forces one refresh and one retry (S25)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* signedIn("ann")
      yield* server.inject(Fault.Status({ endpoint: "api", status: 401 }))
      const response = yield* whoami
      assert.strictEqual(response.status, 200)
      const c = yield* counters
      assert.strictEqual(c.api, 2)
      assert.strictEqual(c.refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("a second 401 is the answer: never a loop (S25)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* signedIn("ann")
      yield* server.inject(Fault.Status({ endpoint: "api", status: 401, times: 10 }))
      const response = yield* whoami
      assert.strictEqual(response.status, 401)
      const c = yield* counters
      assert.strictEqual(c.api, 2)
      assert.strictEqual(c.refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("a 401 for a token another fiber already replaced causes no second refresh (S25)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* tokens.invalidate("ann", first.accessToken)
      const second = yield* tokens.get("ann")
      yield* tokens.invalidate("ann", first.accessToken)
      assert.strictEqual(Redacted.value(yield* tokens.get("ann")), Redacted.value(second))
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("concurrent requests rejected with the same token share one refresh, and each is retried once (S25)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      const rejected = `Bearer ${Redacted.value(first.accessToken)}`
      // All four are sent with the first token before any answer comes back; that token is refused.
      const api = yield* recordingApi((seen) => bearerOf(seen) === rejected, 4)
      const http = OAuthHttpClient.authorize(api.client, tokens, "ann")
      const responses = yield* Effect.all(
        Array.from({ length: 4 }, () => http.get("https://api.example.com/me")),
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual(responses.map((response) => response.status), [200, 200, 200, 200])
      assert.deepStrictEqual(api.seen.slice(0, 4).map(bearerOf), [rejected, rejected, rejected, rejected])
      assert.strictEqual(api.seen.length, 8)
      assert.strictEqual(new Set(api.seen.slice(4).map(bearerOf)).size, 1)
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("the retry after a 401 is the same request, with only the token changed: method, URL, headers and body (S25)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      const api = yield* recordingApi(firstOnly)
      // Decorations below the authorized client (a base URL) and above it (a header) each apply once.
      const inner = HttpClient.mapRequest(api.client, HttpClientRequest.prependUrl("https://api.example.com/v1"))
      const http = OAuthHttpClient.authorize(inner, tokens, "ann").pipe(
        HttpClient.mapRequest(HttpClientRequest.setHeader("x-request-id", "req-7"))
      )
      const request = yield* HttpClientRequest.post("/agents/sendMessage").pipe(
        HttpClientRequest.bodyJson({ message: "hello" })
      )
      const response = yield* http.execute(request)
      assert.strictEqual(response.status, 200)
      assert.strictEqual(api.seen.length, 2)
      const [rejected, retried] = api.seen
      assert.strictEqual(bearerOf(rejected), `Bearer ${Redacted.value(first.accessToken)}`)
      assert.notStrictEqual(bearerOf(retried), bearerOf(rejected))
      for (const seen of api.seen) {
        assert.strictEqual(seen.method, "POST")
        assert.strictEqual(seen.url, "https://api.example.com/v1/agents/sendMessage")
        assert.strictEqual(seen.headers["x-request-id"], "req-7")
        assert.strictEqual(seen.body, JSON.stringify({ message: "hello" }))
      }
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("a 401 for a request that did not carry this key's Bearer token is the answer: no refresh, no retry (S25)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      const api = yield* recordingApi(firstOnly)
      // The wrapped client replaces the Authorization header with its own credentials.
      const inner = HttpClient.mapRequest(api.client, HttpClientRequest.basicAuth("service", "secret"))
      const response = yield* OAuthHttpClient.authorize(inner, tokens, "ann").get("https://api.example.com/me")
      assert.strictEqual(response.status, 401)
      assert.strictEqual(api.seen.length, 1)
      assert.strictEqual((yield* counters).refreshToken, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("a token that is due is refreshed before the request is sent (S19)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      const api = yield* recordingApi(() => false)
      yield* TestClock.adjust(Duration.hours(1))
      const response = yield* OAuthHttpClient.authorize(api.client, tokens, "ann").get("https://api.example.com/me")
      assert.strictEqual(response.status, 200)
      assert.notStrictEqual(bearerOf(api.seen[0]), `Bearer ${Redacted.value(first.accessToken)}`)
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("a token due but valid for longer than minValidity is sent at once while it is refreshed in the background (S43)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      const api = yield* recordingApi(() => false)
      yield* TestClock.adjust(Duration.minutes(59))
      yield* server.inject(Fault.Delay({ endpoint: "token", duration: Duration.seconds(5) }))
      const response = yield* OAuthHttpClient.authorize(api.client, tokens, "ann").get("https://api.example.com/me")
      assert.strictEqual(response.status, 200)
      assert.strictEqual(bearerOf(api.seen[0]), `Bearer ${Redacted.value(first.accessToken)}`)
      yield* TestClock.adjust(Duration.seconds(5))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      assert.strictEqual((yield* counters).refreshToken, 1)
      assert.notStrictEqual(Redacted.value(yield* tokens.get("ann")), Redacted.value(first.accessToken))
    }).pipe(Effect.provide(layer())))

  it.effect("an AccessTokens service without a memory read of fresh tokens is asked with get on every request", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      let gets = 0
      const counting: AccessTokens.Service = {
        ...tokens,
        unsafeFresh: undefined,
        get: (key) => Effect.zipRight(Effect.sync(() => gets++), tokens.get(key))
      }
      const api = yield* recordingApi(firstOnly)
      const http = OAuthHttpClient.authorize(api.client, counting, "ann")
      assert.strictEqual((yield* http.get("https://api.example.com/me")).status, 200)
      assert.strictEqual((yield* http.get("https://api.example.com/me")).status, 200)
      // One get per request, and one for the retry after the 401.
      assert.strictEqual(gets, 3)
      assert.strictEqual(api.seen.length, 3)
    }).pipe(Effect.provide(layer())))

  it.effect("a client that is only an execute function is decorated too, with the retry after a 401 (S25)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      const api = yield* recordingApi(firstOnly)
      // Same prototype (get, post, …), but none of the stages `HttpClient.makeWith` gives a client.
      const bare: HttpClient.HttpClient = Object.assign(Object.create(Object.getPrototypeOf(api.client)), {
        execute: api.client.execute
      })
      const response = yield* OAuthHttpClient.authorize(bare, tokens, "ann").get("https://api.example.com/me")
      assert.strictEqual(response.status, 200)
      assert.strictEqual(bearerOf(api.seen[0]), `Bearer ${Redacted.value(first.accessToken)}`)
      assert.strictEqual(api.seen.length, 2)
      assert.notStrictEqual(bearerOf(api.seen[1]), bearerOf(api.seen[0]))
    }).pipe(Effect.provide(layer())))

  it.effect("tokenFunction gives SDKs a callback that returns a valid token on every call", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* signedIn("ann")
      const apiKey = yield* OAuthHttpClient.tokenFunction("ann")
      const token = yield* Effect.promise(() => apiKey())
      assert.isTrue(yield* server.isAccessTokenValid(token))
    }).pipe(Effect.provide(layer())))
})
