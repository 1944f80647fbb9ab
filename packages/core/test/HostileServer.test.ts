import {
  AccessTokens,
  Discovery,
  OAuthClient,
  OAuthConfig,
  OAuthError,
  ServerExchange,
  TokenSet,
  TokenStore
} from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import { inspect } from "node:util"
import * as AccessTokensSetup from "./utils/accessTokens.js"

const { Fault } = FakeAuthorizationServer

type Env = OAuthClient.OAuthClient | FakeAuthorizationServer.FakeAuthorizationServer

const withFake = <A, E>(effect: Effect.Effect<A, E, Env>, options: OAuthTest.Options = {}) =>
  Effect.provide(effect, OAuthTest.layer(options))

/** Every way an error may be shown: message, String, JSON, util.inspect, Cause.pretty. */
const renderings = (error: unknown): ReadonlyArray<string> => [
  error instanceof Error ? error.message : "",
  String(error),
  JSON.stringify(error),
  inspect(error, { depth: 20 }),
  Cause.pretty(Cause.fail(error))
]

/** A secret as it may travel: raw, form-, URL- and Base64-encoded. */
const spellings = (secret: string): ReadonlyArray<string> => [
  secret,
  encodeURIComponent(secret),
  new URLSearchParams([["", secret]]).toString().slice(1),
  Encoding.encodeBase64(secret),
  Encoding.encodeBase64Url(secret)
]

const assertNoSecret = (error: unknown, secrets: ReadonlyArray<string>) => {
  for (const rendering of renderings(error)) {
    for (const secret of secrets) {
      for (const spelling of spellings(secret)) assert.notInclude(rendering, spelling)
    }
  }
}

/** Starts a sign-in and returns what the token request will carry. */
const approved = Effect.gen(function*() {
  const client = yield* OAuthClient.OAuthClient
  const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
  const { pending, url } = yield* client.authorize()
  const callback = yield* server.approve(url)
  const code = yield* client.callback(callback, pending)
  return { client, server, pending, code }
})

const deadline = Duration.seconds(30)

describe("one deadline per exchange (S32)", () => {
  for (const fault of ["StalledBody", "StalledHeaders"] as const) {
    it.effect(`a token response whose ${fault === "StalledBody" ? "body" : "headers"} stall ends at the deadline with a typed timeout (S32)`, () =>
      withFake(Effect.gen(function*() {
        const { client, code, pending, server } = yield* approved
        yield* server.inject(Fault[fault]({ endpoint: "token" }))
        const fiber = yield* Effect.fork(Effect.flip(client.exchange(code, pending)))
        yield* TestClock.adjust(deadline)
        const error = yield* Fiber.join(fiber)
        assert.strictEqual(error._tag, "HttpError")
        assert.strictEqual(error._tag === "HttpError" ? error.reason : undefined, "Timeout")
      })))

    it.effect(`a refresh whose ${fault === "StalledBody" ? "body" : "headers"} stall is RefreshOutcomeUnknown at the deadline (S32)`, () =>
      withFake(Effect.gen(function*() {
        const client = yield* OAuthClient.OAuthClient
        const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
        const tokens = yield* OAuthTest.signIn()
        yield* server.inject(Fault[fault]({ endpoint: "token", grantType: "refresh_token" }))
        const fiber = yield* Effect.fork(Effect.flip(client.refresh(tokens)))
        yield* TestClock.adjust(deadline)
        const error = yield* Fiber.join(fiber)
        assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
        assert.strictEqual((error as OAuthError.RefreshOutcomeUnknown).reason, "Timeout")
      })))
  }

  it.effect("a revocation whose body stalls ends with a typed timeout, each attempt within its deadline (S32)", () =>
    withFake(Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* OAuthTest.signIn()
      yield* server.inject(Fault.StalledBody({ endpoint: "revoke", times: 10 }))
      const fiber = yield* Effect.fork(Effect.flip(client.revoke(Option.getOrThrow(tokens.refreshToken))))
      for (let i = 0; i < 4; i++) yield* TestClock.adjust(Duration.sum(deadline, Duration.seconds(2)))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error._tag, "HttpError")
      assert.strictEqual(error._tag === "HttpError" ? error.reason : undefined, "Timeout")
      assert.strictEqual((yield* server.counters).revoke, 4)
    })))

  it.effect("a discovery document whose body stalls ends at the deadline with DiscoveryError Timeout (S32)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* server.inject(Fault.StalledBody({ endpoint: "metadata" }))
      const fiber = yield* Effect.fork(
        Effect.flip(Discovery.discover(server.endpoints.issuer, { timeout: "10 seconds" }))
      )
      yield* TestClock.adjust("10 seconds")
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
    }).pipe(Effect.provide(FakeAuthorizationServer.layerWithHttpClient())))

  it.effect("the deadline of ServerExchange covers the whole body, for any endpoint (userinfo, JWKS) (S32)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      // the public helper the oidc package uses for userinfo and JWKS
      const exchange = ServerExchange.make(server.httpClient, { timeout: "5 seconds" })
      yield* server.inject(Fault.StalledBody({ endpoint: "api" }))
      const fiber = yield* Effect.fork(
        Effect.flip(exchange.execute(HttpClientRequest.get(`${server.endpoints.apiBase}/whoami`), "userinfo"))
      )
      yield* TestClock.adjust("5 seconds")
      const error = yield* Fiber.join(fiber)
      assert.deepStrictEqual([error.endpoint, error.reason], ["userinfo", "Timeout"])
    }).pipe(Effect.provide(FakeAuthorizationServer.layerWithHttpClient())))

  it.effect("closing the AccessTokens layer with a refresh stuck in a stalled body ends by the deadline (S32)", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(AccessTokensSetup.layer(), scope)
      const server = Context.get(context, FakeAuthorizationServer.FakeAuthorizationServer)
      const tokens = Context.get(context, AccessTokens.AccessTokens)
      yield* Effect.provide(AccessTokensSetup.signedIn("k"), context)
      yield* server.inject(Fault.StalledBody({ endpoint: "token", grantType: "refresh_token" }))
      yield* TestClock.adjust(Duration.hours(2))
      const caller = yield* Effect.fork(Effect.exit(tokens.get("k")))
      yield* TestClock.adjust("1 second")
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      yield* TestClock.adjust(deadline)
      yield* Fiber.join(closing)
      const exit = yield* Fiber.join(caller)
      assert.isTrue(Exit.isFailure(exit))
    }))
})

describe("server-chosen numbers are bounded (S33)", () => {
  it.effect("an expires_in of 10^13 s at the token endpoint is clamped to one year and the tokens encode (S33)", () =>
    withFake(Effect.gen(function*() {
      const { client, code, pending, server } = yield* approved
      yield* server.inject(Fault.OutOfRangeNumbers({ endpoint: "token" }))
      const tokens = yield* client.exchange(code, pending)
      const lifetime = DateTime.toEpochMillis(tokens.expiresAt) - DateTime.toEpochMillis(tokens.issuedAt)
      assert.strictEqual(lifetime, Duration.toMillis(Duration.days(365)))
      const text = yield* Schema.encode(TokenSet.StoredJson)(tokens)
      assert.isTrue(Redacted.value((yield* Schema.decode(TokenSet.StoredJson)(text)).accessToken).length > 0)
    })))

  it.effect("a refresh answer with an out-of-range expires_in keeps the rotated refresh token and encodes (S33)", () =>
    withFake(
      Effect.gen(function*() {
        const client = yield* OAuthClient.OAuthClient
        const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
        const tokens = yield* OAuthTest.signIn()
        yield* server.inject(Fault.OutOfRangeNumbers({ endpoint: "token", grantType: "refresh_token" }))
        const refreshed = yield* client.refresh(tokens)
        const lifetime = DateTime.toEpochMillis(refreshed.expiresAt) - DateTime.toEpochMillis(refreshed.issuedAt)
        assert.strictEqual(lifetime, Duration.toMillis(Duration.hours(12)))
        assert.isTrue(yield* server.isRefreshTokenValid(Redacted.value(Option.getOrThrow(refreshed.refreshToken))))
        yield* Schema.encode(TokenSet.StoredJson)(refreshed)
      }),
      { client: { maxAccessTokenLifetime: Duration.hours(12) } }
    ))

  it("addBounded keeps every instant within the range of a date, so encoding is total (S33)", () =>
    FastCheck.assert(
      FastCheck.property(
        FastCheck.integer({ min: -8.64e15, max: 8.64e15 }),
        FastCheck.double({ min: 0, noNaN: true }),
        (at, millis) => {
          const result = TokenSet.addBounded(DateTime.unsafeMake(at), Duration.millis(millis))
          return Number.isFinite(new Date(DateTime.toEpochMillis(result)).getTime())
        }
      )
    ))
})

describe("no server text reaches a message verbatim (S34)", () => {
  for (const clientAuthMethod of ["client_secret_post", "client_secret_basic"] as const) {
    it.effect(`an error_description echoing the code exchange shows no code, verifier or secret (${clientAuthMethod}) (S34)`, () =>
      withFake(
        Effect.gen(function*() {
          const { client, code, pending, server } = yield* approved
          yield* server.inject(Fault.EchoRequest({ endpoint: "token" }))
          const error = yield* Effect.flip(client.exchange(code, pending))
          assert.strictEqual(error._tag, "ErrorResponse")
          assertNoSecret(error, [
            Redacted.value(code),
            Redacted.value(Option.getOrThrow(pending.codeVerifier)),
            "test-secret"
          ])
        }),
        { client: { clientAuthMethod } }
      ))
  }

  it.effect("an error_description echoing a refresh or a revocation shows no refresh token or secret (S34)", () =>
    withFake(Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* OAuthTest.signIn()
      const refreshToken = Redacted.value(Option.getOrThrow(tokens.refreshToken))
      yield* server.inject(Fault.EchoRequest({ endpoint: "token", grantType: "refresh_token" }))
      assertNoSecret(yield* Effect.flip(client.refresh(tokens)), [refreshToken, "test-secret"])
      yield* server.inject(Fault.EchoRequest({ endpoint: "revoke" }))
      assertNoSecret(yield* Effect.flip(client.revoke(Option.getOrThrow(tokens.refreshToken))), [
        refreshToken,
        "test-secret"
      ])
    })))

  it.effect("error_description and error_uri are cut to a bounded length and stripped of control characters (S34)", () =>
    withFake(Effect.gen(function*() {
      const { client, code, pending, server } = yield* approved
      const body = JSON.stringify({
        error: "invalid_grant\u001b[31m",
        error_description: `bad\u0000\u001b[2J\r\nforged log line ${"x".repeat(100_000)}`,
        error_uri: `https://e.example/\u2028${"y".repeat(10_000)}`
      })
      yield* server.inject(Fault.Status({ endpoint: "token", status: 400, body }))
      const error = yield* Effect.flip(client.exchange(code, pending))
      assert.instanceOf(error, OAuthError.ErrorResponse)
      const response = error as OAuthError.ErrorResponse
      assert.strictEqual(response.error, "invalid_grant[31m")
      for (const text of [response.description ?? "", response.uri ?? "", response.message]) {
        assert.isAtMost(text.length, 700)
        // eslint-disable-next-line no-control-regex
        assert.notMatch(text, /[\u0000-\u001f\u007f\u2028]/)
      }
    })))

  it("no part of a secret survives in a long text that repeats it, wherever the text is cut (S34)", () => {
    const secret = "rt_" + "Q".repeat(30) + "Z".repeat(31)
    for (const copies of [1, 10, 35, 100, 1000]) {
      const text = `${`${secret} `.repeat(copies)}${secret}`
      const sanitized = OAuthError.sanitize(text, [secret]) ?? ""
      assert.notInclude(sanitized, "rt_QQQQ")
      assert.isAtMost(sanitized.length, 513)
    }
  })

  it.effect("a 10 000-deep JSON value in a token response is a typed error naming the path (S34)", () =>
    withFake(Effect.gen(function*() {
      const { client, code, pending, server } = yield* approved
      yield* server.inject(Fault.DeepJson({ endpoint: "token", depth: 10_000 }))
      const error = yield* Effect.flip(client.exchange(code, pending))
      assert.instanceOf(error, OAuthError.InvalidTokenResponse)
      assert.deepStrictEqual((error as OAuthError.InvalidTokenResponse).issues, ["scope is invalid"])
      for (const rendering of renderings(error)) assert.isBelow(rendering.length, 20_000)
    })))

  it.effect("a 10 000-deep JSON value in a discovery document is a typed DiscoveryError (S34)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* server.inject(Fault.DeepJson({ endpoint: "metadata", depth: 10_000, field: "issuer" }))
      const error = yield* Effect.flip(Discovery.discover(server.endpoints.issuer))
      assert.strictEqual(error.reason, "InvalidMetadata")
      assert.include(error.message, "issuer is invalid")
    }).pipe(Effect.provide(FakeAuthorizationServer.layerWithHttpClient())))

  it.effect("a 10 000-deep JSON value in a stored record is a TokenStoreError naming the path (S34)", () =>
    Effect.gen(function*() {
      const deep = "[".repeat(10_000) + "]".repeat(10_000)
      const text =
        `{"accessToken":"a","tokenType":"Bearer","expiresAt":"2030-01-01T00:00:00.000Z","issuedAt":"2030-01-01T00:00:00.000Z","scopes":${deep}}`
      const error = yield* Effect.flip(TokenStore.decodeRecord("k", text))
      assert.strictEqual(error.reason, "Corrupt")
      assert.include(error.message, "scopes")
    }))

  it("decode errors name paths, never values, and list a bounded number of issues (S34)", () => {
    const schema = Schema.Struct({ a: Schema.Array(Schema.String) })
    const value = { a: Array.from({ length: 10_000 }, (_, i) => ({ secret: `value-${i}` })) }
    const result = Schema.decodeUnknownEither(schema)(value, { errors: "all" })
    assert.isTrue(result._tag === "Left")
    if (result._tag === "Left") {
      const issues = OAuthError.parseIssues(result.left, "body")
      assert.isAtMost(issues.length, 11)
      assert.strictEqual(issues[0], "a[0] is invalid")
      assert.notInclude(issues.join(" "), "value-")
    }
  })
})

describe("callback parsing is total (S36)", () => {
  const pendingOf = Effect.map(OAuthClient.OAuthClient, (client) => client)

  it.effect("any runtime value as callback parameters is a typed error, never a defect (S36)", () =>
    withFake(Effect.gen(function*() {
      const client = yield* pendingOf
      const { pending } = yield* client.authorize()
      const values: ReadonlyArray<unknown> = [
        42,
        null,
        undefined,
        true,
        [1, 2],
        "not a url",
        { code: 42, state: Redacted.value(pending.state) },
        { state: { x: "1" } },
        { state: { "[x]": 1 }, code: ["a", "b"] },
        { code: [1], state: [Redacted.value(pending.state)] },
        { code: [["nested"]], state: Redacted.value(pending.state) },
        Object.create(null),
        new Proxy({}, {
          has: () => true,
          get: () => {
            throw new Error("hostile getter")
          }
        })
      ]
      for (const value of values) {
        const exit = yield* Effect.exit(client.callback(value as OAuthClient.CallbackInput, pending))
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          assert.isTrue(Cause.isFailType(exit.cause), `a typed failure for ${inspect(value)}`)
        }
      }
    })))

  it.effect("arbitrary values as callback input give a code or a typed error (S36)", () =>
    withFake(Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const { pending } = yield* client.authorize()
      const samples = FastCheck.sample(FastCheck.anything({ withObjectString: true, withNullPrototype: true }), 300)
      for (const value of samples) {
        const exit = yield* Effect.exit(client.callback(value as OAuthClient.CallbackInput, pending))
        if (Exit.isFailure(exit)) assert.isTrue(Cause.isFailType(exit.cause))
      }
    })))
})

describe("bounded quoting of user-supplied values", () => {
  it("a 1 MB key is quoted in bounded form in store errors (S28)", () => {
    const key = "k".repeat(1024 * 1024)
    for (
      const error of [
        new OAuthError.TokenStoreError({ operation: "get", reason: "Unavailable", key }),
        new OAuthError.VersionConflict({ key, expected: 1, actual: 2 }),
        new OAuthError.ReauthorizationRequired({ reason: "no-tokens", key })
      ]
    ) {
      assert.isBelow(error.message.length, 400)
      assert.include(error.message, `${1024 * 1024} characters`)
    }
  })
})

describe("OAuthError", () => {
  it("isOAuthError recognises every error of the library and nothing else", () => {
    const errors = [
      new OAuthError.AuthorizationDenied({ error: "access_denied" }),
      new OAuthError.StateMismatch({ reason: "missing" }),
      new OAuthError.IssuerMismatch({ expected: "x" }),
      new OAuthError.InvalidCallback({ reason: "x" }),
      new OAuthError.ErrorResponse({ error: "x", status: 400 }),
      new OAuthError.InvalidTokenResponse({ issues: [] }),
      new OAuthError.HttpError({ endpoint: "token", reason: "Timeout" }),
      new OAuthError.ReauthorizationRequired({ reason: "no-tokens" }),
      new OAuthError.RefreshOutcomeUnknown({ reason: "Timeout" }),
      new OAuthError.TokenStoreError({ operation: "get", reason: "Corrupt" }),
      new OAuthError.VersionConflict({ key: "k", expected: null, actual: 1 }),
      new OAuthError.InvalidConfig({ field: "f", reason: "r" }),
      new OAuthError.DiscoveryError({ issuer: "i", reason: "NotFound" }),
      new OAuthError.PendingAuthorizationsError({ operation: "put", reason: "Unavailable" })
    ]
    for (const error of errors) assert.isTrue(OAuthError.isOAuthError(error), error._tag)
    for (const other of [new Error("x"), { _tag: "HttpError" }, null, "HttpError", 1]) {
      assert.isFalse(OAuthError.isOAuthError(other))
    }
  })

  it("the errors OAuthConfig re-exports are the classes of OAuthError", () => {
    assert.strictEqual(OAuthConfig.InvalidConfig, OAuthError.InvalidConfig)
    assert.strictEqual(OAuthConfig.DiscoveryError, OAuthError.DiscoveryError)
    assert.instanceOf(new OAuthConfig.InvalidConfig({ field: "f", reason: "r" }), OAuthError.InvalidConfig)
  })
})
