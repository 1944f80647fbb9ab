import { OAuthClient, OAuthConfig, OAuthError } from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"

const { Fault } = FakeAuthorizationServer

const withFake = <A, E>(
  effect: Effect.Effect<A, E, OAuthClient.OAuthClient | FakeAuthorizationServer.FakeAuthorizationServer>,
  options: OAuthTest.Options = {}
) => Effect.provide(effect, OAuthTest.layer(options))

const refreshTokenOf = (tokens: { readonly refreshToken: Option.Option<Redacted.Redacted<string>> }) =>
  Redacted.value(Option.getOrThrow(tokens.refreshToken))

describe("OAuthClient against the fake authorization server", () => {
  for (const clientAuthMethod of ["client_secret_post", "client_secret_basic"] as const) {
    it.effect(`the whole flow works with ${clientAuthMethod} and PKCE S256 (S3, S4, S10, S11)`, () =>
      withFake(
        Effect.gen(function*() {
          const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
          const tokens = yield* OAuthTest.signIn("ann")
          assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 200)
          const [exchange] = (yield* server.requests).filter((r) => r.endpoint === "token")
          assert.strictEqual(exchange?.clientAuth, clientAuthMethod)
          assert.strictEqual(exchange?.status, 200)
          assert.isDefined(exchange?.form["code_verifier"])
          assert.deepStrictEqual(tokens.scopes, ["api:agent:message:*"])
        }),
        { client: { clientAuthMethod } }
      ))
  }

  it.effect("the fake requires PKCE and the client always sends it (S3)", () =>
    withFake(
      Effect.gen(function*() {
        const tokens = yield* OAuthTest.signIn()
        assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 200)
      }),
      { server: { requirePkce: true } }
    ))

  it.effect("a code whose answer was lost is not sent again, and the server saw it once (S12)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const client = yield* OAuthClient.OAuthClient
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token" }))
      const { pending, url } = yield* client.authorize()
      const callback = yield* server.approve(url)
      const error = yield* Effect.flip(client.complete(callback, pending))
      assert.strictEqual((error as OAuthError.HttpError).reason, "Transport")
      assert.strictEqual((yield* server.counters).authorizationCode, 1)
    })))

  it.effect("malformed success bodies from the server are typed errors, never tokens (S13, S16)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const kinds = [
        "html",
        "empty",
        "not-json",
        "json-array",
        "wrong-types",
        "missing-access-token",
        "wrong-token-type",
        "huge-body"
      ] as const
      for (const kind of kinds) {
        yield* server.inject(Fault.MalformedBody({ endpoint: "token", kind }))
        const error = yield* Effect.flip(OAuthTest.signIn())
        assert.include(["HttpError", "InvalidTokenResponse"], error._tag, kind)
      }
    })))

  it.effect("huge tokens are accepted (S15)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* server.inject(Fault.HugeTokens({ endpoint: "token", size: 16 * 1024 }))
      const tokens = yield* OAuthTest.signIn()
      assert.strictEqual(Redacted.value(tokens.accessToken).length, 16 * 1024)
      assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 200)
    })))

  it.effect("a server error body is an ErrorResponse; a 503 is an HttpError (S16)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const client = yield* OAuthClient.OAuthClient
      const { pending, url } = yield* client.authorize()
      const callback = yield* server.approve(url)
      yield* client.callback(callback, pending)
      const code = Redacted.make(callback.searchParams.get("code") ?? "")
      yield* server.inject(Fault.Status({ endpoint: "token", status: 503 }))
      const unavailable = yield* Effect.flip(client.exchange(code, pending))
      assert.strictEqual((unavailable as OAuthError.HttpError).status, 503)
      const tokens = yield* client.exchange(code, pending)
      const replay = yield* Effect.flip(client.exchange(code, pending))
      assert.strictEqual((replay as OAuthError.ErrorResponse).error, "invalid_grant")
      assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 401, "a replayed code revokes its tokens")
    })))

  it.effect("refresh rotates over several rounds and a rotated token is rejected (S17, S21)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const client = yield* OAuthClient.OAuthClient
      let tokens = yield* OAuthTest.signIn()
      const seen = new Set([refreshTokenOf(tokens)])
      const first = tokens
      for (let round = 0; round < 5; round++) {
        yield* TestClock.adjust(Duration.hours(1))
        assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 401)
        tokens = yield* client.refresh(tokens)
        assert.isFalse(seen.has(refreshTokenOf(tokens)), "each refresh gives a new refresh token")
        seen.add(refreshTokenOf(tokens))
        assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 200)
      }
      assert.strictEqual((yield* server.counters).reusedRefreshTokens, 0)
      const replay = yield* Effect.flip(client.refresh(first))
      assert.strictEqual((replay as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
      assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 401, "reuse revoked the family")
    })))

  it.effect("a refresh token past 30 days fails without a request (S24)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const client = yield* OAuthClient.OAuthClient
      const tokens = yield* OAuthTest.signIn()
      yield* TestClock.adjust(Duration.days(30))
      const error = yield* Effect.flip(client.refresh(tokens))
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-expired")
      assert.strictEqual((yield* server.counters).refreshToken, 0)
    })))

  it.effect("a lost refresh answer is outcome unknown; the server did rotate (S22)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const client = yield* OAuthClient.OAuthClient
      const tokens = yield* OAuthTest.signIn()
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      const error = yield* Effect.flip(client.refresh(tokens))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
      assert.strictEqual((yield* server.counters).refreshToken, 1)
      assert.isFalse(yield* server.isRefreshTokenValid(refreshTokenOf(tokens)))
    })))

  it.effect("the callback's iss from the server matches the configured issuer; a deny is typed (S7, S8)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const client = yield* OAuthClient.OAuthClient
      const { pending, url } = yield* client.authorize()
      const callback = yield* server.deny(url, "access_denied", "The user said no")
      assert.strictEqual(callback.searchParams.get("iss"), "https://app.credal.ai")
      const error = yield* Effect.flip(client.complete(callback, pending))
      assert.strictEqual((error as OAuthError.AuthorizationDenied).description, "The user said no")
      assert.strictEqual((yield* server.counters).token, 0)
    })))

  it.effect("sign-out revocation kills the whole grant at the server (S30)", () =>
    withFake(Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const tokens = yield* OAuthTest.signIn()
      assert.strictEqual(yield* client.revoke(Option.getOrThrow(tokens.refreshToken)), "revoked")
      assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 401)
      const error = yield* Effect.flip(client.refresh(tokens))
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
    })))

  it.effect("a 503 from the revocation endpoint is retried until it succeeds (S30)", () =>
    withFake(Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const client = yield* OAuthClient.OAuthClient
      const tokens = yield* OAuthTest.signIn()
      yield* server.inject(Fault.Status({ endpoint: "revoke", status: 503, times: 2 }))
      const fiber = yield* Effect.fork(client.revoke(Option.getOrThrow(tokens.refreshToken)))
      yield* TestClock.adjust(Duration.seconds(5))
      assert.strictEqual(yield* fiber, "revoked")
      assert.strictEqual((yield* server.counters).revoke, 3)
    })))

  it.effect("OAuthClient.layer composes with a config layer over any HttpClient layer", () =>
    Effect.gen(function*() {
      const tokens = yield* OAuthTest.signIn()
      assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 200)
    }).pipe(Effect.provide(
      OAuthClient.layer.pipe(
        Layer.provideMerge(OAuthConfig.layer(OAuthTest.clientOptions())),
        Layer.provideMerge(FakeAuthorizationServer.layerWithHttpClient())
      )
    )))
})
