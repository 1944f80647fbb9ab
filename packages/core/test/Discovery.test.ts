import { Discovery, OAuthClient, OAuthConfig } from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import type * as HttpClient from "@effect/platform/HttpClient"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as RecordingClient from "./utils/recordingClient.js"

const { Fault } = FakeAuthorizationServer
const Server = FakeAuthorizationServer.FakeAuthorizationServer

const credal = "https://app.credal.ai"
const issuer = "https://auth.example.com"

const client: OAuthConfig.DiscoveredOptions = {
  clientId: "test-client",
  clientSecret: Redacted.make("test-secret"),
  redirectUri: "http://127.0.0.1:3000/callback",
  scopes: ["api:agent:message:*"]
}

/** `effect` against the in-memory fake, its `HttpClient` in context. */
const withFake = (options?: Partial<FakeAuthorizationServer.Options>) =>
<A, E>(
  effect: Effect.Effect<A, E, FakeAuthorizationServer.FakeAuthorizationServer | HttpClient.HttpClient>
) => Effect.provide(effect, FakeAuthorizationServer.layerWithHttpClient(options))

const metadataRequests = Effect.map(
  Effect.flatMap(Server, (server) => server.requests),
  (entries) => entries.filter((entry) => entry.endpoint === "metadata").map((entry) => [entry.url, entry.status])
)

const document = (fields: Record<string, unknown> = {}) =>
  JSON.stringify({
    issuer,
    authorization_endpoint: `${issuer}/authorize`,
    token_endpoint: `${issuer}/token`,
    ...fields
  })

/** `discover` over a recording client answering `reply`: the outcome and the requests made. */
const discoverWith = (
  reply: (request: RecordingClient.Recorded) => RecordingClient.Reply,
  asked = issuer,
  options?: OAuthConfig.DiscoverOptions
) =>
  Effect.gen(function*() {
    const recording = yield* RecordingClient.make(reply)
    const result = yield* Effect.either(Effect.provide(Discovery.discover(asked, options), recording.layer))
    return { result, requests: yield* recording.log }
  })

const failureOf = <A>(result: Either.Either<A, OAuthConfig.DiscoveryError>) => {
  assert.isTrue(Either.isLeft(result), "discovery should fail")
  return Either.getLeft(result).pipe(Option.getOrThrow)
}

/** The OAuth client over a discovered configuration and the in-memory fake. */
const discoveredLayer = (
  server: Partial<FakeAuthorizationServer.Options> = {},
  overrides: Partial<OAuthConfig.DiscoveredOptions> = {}
) =>
  OAuthClient.layer.pipe(
    Layer.provideMerge(OAuthConfig.layerDiscovery(server.issuer ?? credal, { ...client, ...overrides })),
    Layer.provideMerge(FakeAuthorizationServer.layerWithHttpClient(server))
  )

describe("Discovery.discover (RFC 8414)", () => {
  it.effect("reads the RFC 8414 document from /.well-known/oauth-authorization-server (S31)", () =>
    withFake()(Effect.gen(function*() {
      const metadata = yield* Discovery.discover(credal)
      assert.strictEqual(metadata.issuer, credal)
      assert.strictEqual(metadata.authorizationEndpoint, `${credal}/api/oauth/authorize`)
      assert.strictEqual(metadata.tokenEndpoint, `${credal}/api/oauth/token`)
      assert.strictEqual(metadata.revocationEndpoint, `${credal}/api/oauth/revoke`)
      assert.deepStrictEqual(metadata.codeChallengeMethodsSupported, ["S256"])
      assert.deepStrictEqual(metadata.tokenEndpointAuthMethodsSupported, ["client_secret_basic", "client_secret_post"])
      assert.isTrue(metadata.authorizationResponseIssParameterSupported)
      assert.deepStrictEqual(yield* metadataRequests, [[`${credal}/.well-known/oauth-authorization-server`, 200]])
    })))

  it.effect("asks for JSON with a GET and sends no credentials (S10, S31)", () =>
    Effect.gen(function*() {
      const { requests, result } = yield* discoverWith(() => ({ status: 200, body: document() }))
      assert.isTrue(Either.isRight(result))
      assert.strictEqual(requests.length, 1)
      assert.strictEqual(requests[0]?.method, "GET")
      assert.strictEqual(requests[0]?.url, `${issuer}/.well-known/oauth-authorization-server`)
      assert.strictEqual(requests[0]?.headers["accept"], "application/json")
      assert.isUndefined(requests[0]?.headers["authorization"])
    }))

  it.effect("falls back to /.well-known/openid-configuration when the RFC 8414 document is 404 (S31)", () =>
    withFake({ metadata: "openid" })(Effect.gen(function*() {
      const metadata = yield* Discovery.discover(credal)
      assert.strictEqual(metadata.tokenEndpoint, `${credal}/api/oauth/token`)
      assert.deepStrictEqual(yield* metadataRequests, [
        [`${credal}/.well-known/oauth-authorization-server`, 404],
        [`${credal}/.well-known/openid-configuration`, 200]
      ])
    })))

  it.effect("without the OpenID fallback, or with no document at all, discovery fails with NotFound (S31)", () =>
    Effect.gen(function*() {
      const noFallback = yield* withFake({ metadata: "openid" })(Effect.gen(function*() {
        const error = yield* Effect.flip(Discovery.discover(credal, { openIdFallback: false }))
        assert.strictEqual((yield* metadataRequests).length, 1)
        return error
      }))
      assert.strictEqual(noFallback.reason, "NotFound")
      const none = yield* withFake({ metadata: "none" })(Effect.flip(Discovery.discover(credal)))
      assert.strictEqual(none.reason, "NotFound")
      assert.include(none.message, credal)
      assert.include(none.message, "/.well-known/openid-configuration")
    }))

  it.effect("only a 404 falls back: another status is a typed error at once (S16, S31)", () =>
    Effect.gen(function*() {
      for (const status of [500, 503, 401, 302]) {
        const { requests, result } = yield* discoverWith(() => ({
          status,
          body: JSON.stringify({ error: "invalid_client" })
        }))
        const error = failureOf(result)
        assert.strictEqual(error.reason, "Status")
        assert.strictEqual(error.status, status)
        assert.strictEqual(requests.length, 1)
      }
    }))

  it.effect("a document naming another issuer is rejected, even one differing by a trailing slash (S31)", () =>
    Effect.gen(function*() {
      const evil = yield* withFake({ metadataIssuer: "https://evil.example" })(
        Effect.flip(Discovery.discover(credal))
      )
      assert.strictEqual(evil.reason, "IssuerMismatch")
      assert.include(evil.message, credal)
      assert.include(evil.message, "https://evil.example")
      const slash = yield* withFake()(Effect.flip(Discovery.discover(`${credal}/`)))
      assert.strictEqual(slash.reason, "IssuerMismatch")
      const fallback = yield* withFake({ metadata: "openid", metadataIssuer: `${credal}/other` })(
        Effect.flip(Discovery.discover(credal))
      )
      assert.strictEqual(fallback.reason, "IssuerMismatch")
      assert.strictEqual(fallback.url, `${credal}/.well-known/openid-configuration`)
    }))

  it.effect("an issuer with a path: RFC 8414 inserts the well-known segment before it, OpenID appends (S31)", () =>
    Effect.gen(function*() {
      const urls = Discovery.wellKnownUrls(new URL("https://auth.example.com/tenants/acme/"))
      assert.strictEqual(
        urls.oauth.href,
        "https://auth.example.com/.well-known/oauth-authorization-server/tenants/acme"
      )
      assert.strictEqual(urls.openid.href, "https://auth.example.com/tenants/acme/.well-known/openid-configuration")
      const root = Discovery.wellKnownUrls(new URL("https://auth.example.com"))
      assert.strictEqual(root.oauth.href, "https://auth.example.com/.well-known/oauth-authorization-server")
      assert.strictEqual(root.openid.href, "https://auth.example.com/.well-known/openid-configuration")

      const tenant = "https://auth.example.com/tenants/acme"
      const metadata = yield* withFake({ issuer: tenant })(Discovery.discover(tenant))
      assert.strictEqual(metadata.issuer, tenant)
      assert.strictEqual(metadata.tokenEndpoint, `${tenant}/api/oauth/token`)
      const viaOpenId = yield* withFake({ issuer: tenant, metadata: "openid" })(Effect.gen(function*() {
        yield* Discovery.discover(tenant)
        return yield* metadataRequests
      }))
      assert.deepStrictEqual(viaOpenId, [
        ["https://auth.example.com/.well-known/oauth-authorization-server/tenants/acme", 404],
        ["https://auth.example.com/tenants/acme/.well-known/openid-configuration", 200]
      ])
    }))

  it.effect("http is refused off loopback for the issuer and every endpoint, allowed on loopback (S27)", () =>
    Effect.gen(function*() {
      const insecureIssuer = yield* discoverWith(() => ({ status: 200, body: document() }), "http://auth.example.com")
      assert.strictEqual(failureOf(insecureIssuer.result).reason, "InvalidIssuer")
      assert.isEmpty(insecureIssuer.requests, "no request to an insecure issuer")

      for (const field of ["authorization_endpoint", "token_endpoint", "revocation_endpoint"]) {
        const { result } = yield* discoverWith(() => ({
          status: 200,
          body: document({ [field]: "http://auth.example.com/endpoint" })
        }))
        const error = failureOf(result)
        assert.strictEqual(error.reason, "InsecureEndpoint")
        assert.include(error.message, field)
      }
      const credentials = yield* discoverWith(() => ({
        status: 200,
        body: document({ token_endpoint: "https://user:pw@auth.example.com/token" })
      }))
      assert.strictEqual(failureOf(credentials.result).reason, "InsecureEndpoint")
      assert.notInclude(failureOf(credentials.result).message, "pw@")

      const loopback = "http://127.0.0.1:8080"
      const { result } = yield* discoverWith(() => ({
        status: 200,
        body: JSON.stringify({
          issuer: loopback,
          authorization_endpoint: `${loopback}/authorize`,
          token_endpoint: `${loopback}/token`,
          revocation_endpoint: "http://localhost:8080/revoke"
        })
      }), loopback)
      assert.isTrue(Either.isRight(result))
    }))

  it.effect("an issuer with a query or fragment is refused without a request (RFC 8414 §2)", () =>
    Effect.gen(function*() {
      for (const asked of [`${issuer}?tenant=a`, `${issuer}#x`, `${issuer}/?`, "not a url"]) {
        const { requests, result } = yield* discoverWith(() => ({ status: 200, body: document() }), asked)
        assert.strictEqual(failureOf(result).reason, "InvalidIssuer", asked)
        assert.isEmpty(requests)
      }
    }))

  it.effect("malformed, HTML, empty, non-object and huge documents are typed errors that never show the body (S16, S28)", () =>
    Effect.gen(function*() {
      const secret = "do-not-show-this-value"
      const cases: ReadonlyArray<readonly [string, RecordingClient.Reply, OAuthConfig.DiscoveryError["reason"]]> = [
        ["html", {
          status: 200,
          body: `<!DOCTYPE html><html><body>${secret}</body></html>`,
          headers: { "content-type": "text/html" }
        }, "Body"],
        ["empty", { status: 200, body: "" }, "Body"],
        ["not json", { status: 200, body: `issuer=${secret}` }, "Body"],
        ["array", { status: 200, body: JSON.stringify([JSON.parse(document())]) }, "Body"],
        ["wrong types", {
          status: 200,
          body: JSON.stringify({ issuer, authorization_endpoint: 42, token_endpoint: { secret } })
        }, "InvalidMetadata"],
        ["missing fields", { status: 200, body: JSON.stringify({ issuer, secret }) }, "InvalidMetadata"],
        ["huge", { status: 200, body: document({ padding: `${secret}${"x".repeat(2 * 1024 * 1024)}` }) }, "TooLarge"],
        ["server error", { status: 500, body: secret }, "Status"],
        ["transport", "transport-error", "Transport"]
      ]
      for (const [name, reply, reason] of cases) {
        const { result } = yield* discoverWith(() => reply)
        const error = failureOf(result)
        assert.strictEqual(error.reason, reason, name)
        assert.include(error.message, issuer, name)
        assert.notInclude(error.message, secret, name)
        assert.notInclude(JSON.stringify(error), secret, name)
      }
      const { result } = yield* discoverWith(() => ({
        status: 200,
        body: JSON.stringify({ issuer, authorization_endpoint: 42 })
      }))
      assert.include(failureOf(result).message, "authorization_endpoint is invalid")
      assert.include(failureOf(result).message, "token_endpoint is missing")
    }))

  it.effect("unknown fields and __proto__ keys are ignored without prototype pollution (S28)", () =>
    Effect.gen(function*() {
      const body = `{"issuer":"${issuer}","authorization_endpoint":"${issuer}/a","token_endpoint":"${issuer}/t",` +
        `"__proto__":{"polluted":true},"constructor":{"prototype":{"polluted":true}},"x-extension":[1,2,3]}`
      const { result } = yield* discoverWith(() => ({ status: 200, body }))
      assert.isTrue(Either.isRight(result))
      assert.isUndefined(({} as Record<string, unknown>)["polluted"])
      assert.isUndefined(Either.getOrThrow(result).revocationEndpoint)
    }))

  it.effect("a faulty metadata endpoint of the fake is a typed error: HTML, 503, timeout (S16, S31)", () =>
    withFake()(Effect.gen(function*() {
      const server = yield* Server
      yield* server.inject(Fault.MalformedBody({ endpoint: "metadata", kind: "html" }))
      assert.strictEqual((yield* Effect.flip(Discovery.discover(credal))).reason, "Body")
      yield* server.inject(Fault.Status({ endpoint: "metadata", status: 503 }))
      assert.strictEqual((yield* Effect.flip(Discovery.discover(credal))).reason, "Status")
      yield* server.inject(Fault.Delay({ endpoint: "metadata", duration: Duration.minutes(5) }))
      const fiber = yield* Effect.fork(Effect.flip(Discovery.discover(credal, { timeout: Duration.seconds(10) })))
      yield* TestClock.adjust(Duration.seconds(10))
      assert.strictEqual((yield* Fiber.join(fiber)).reason, "Timeout")
      yield* Discovery.discover(credal)
    })))
})

describe("OAuthConfig.layerDiscovery (S31)", () => {
  it.effect("the whole flow works with a discovered configuration, fetched once per layer (S31, S8, S17, S30)", () =>
    Effect.gen(function*() {
      const config = yield* OAuthConfig.OAuthConfig
      assert.strictEqual(config.authorizationEndpoint.href, `${credal}/api/oauth/authorize`)
      assert.strictEqual(config.tokenEndpoint.href, `${credal}/api/oauth/token`)
      assert.deepStrictEqual(
        Option.map(config.revocationEndpoint, (url) => url.href),
        Option.some(`${credal}/api/oauth/revoke`)
      )
      assert.deepStrictEqual(config.issuer, Option.some(credal))
      assert.isTrue(config.requireIssuerParameter)
      assert.strictEqual(config.clientAuthMethod, "client_secret_basic")

      const server = yield* Server
      const oauth = yield* OAuthClient.OAuthClient
      const tokens = yield* OAuthTest.signIn("ann")
      assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 200)
      const refreshed = yield* oauth.refresh(tokens)
      assert.strictEqual(yield* OAuthTest.whoami(refreshed.accessToken), 200)
      assert.strictEqual(yield* oauth.revoke(Option.getOrThrow(refreshed.refreshToken)), "revoked")
      assert.strictEqual(yield* OAuthTest.whoami(refreshed.accessToken), 401)
      const counters = yield* server.counters
      assert.strictEqual(counters.authorizationCode, 1)
      assert.strictEqual(counters.refreshToken, 1)
      assert.strictEqual(counters.revoke, 1)
      assert.strictEqual((yield* metadataRequests).length, 1, "metadata fetched once for the layer")
      const exchange = (yield* server.requests).find((entry) => entry.grantType === "authorization_code")
      assert.strictEqual(exchange?.clientAuth, "client_secret_basic")
    }).pipe(Effect.provide(discoveredLayer())))

  it.effect("a callback from another issuer is rejected with the discovered issuer (S8, S31)", () =>
    Effect.gen(function*() {
      const server = yield* Server
      const oauth = yield* OAuthClient.OAuthClient
      const { pending, url } = yield* oauth.authorize()
      const callback = yield* server.approve(url)
      callback.searchParams.set("iss", "https://evil.example")
      assert.strictEqual((yield* Effect.flip(oauth.complete(callback, pending)))._tag, "IssuerMismatch")
      assert.strictEqual((yield* server.counters).token, 0)
    }).pipe(Effect.provide(discoveredLayer())))

  it.effect("the auth method follows the server's list unless the client names one; given values win (S11, S31)", () =>
    Effect.gen(function*() {
      const postOnly = {
        clients: [{ ...FakeAuthorizationServer.defaultClient, authMethods: ["client_secret_post" as const] }]
      }
      const post = yield* Effect.gen(function*() {
        const config = yield* OAuthConfig.OAuthConfig
        const tokens = yield* OAuthTest.signIn()
        assert.strictEqual(yield* OAuthTest.whoami(tokens.accessToken), 200)
        return config.clientAuthMethod
      }).pipe(Effect.provide(discoveredLayer(postOnly)))
      assert.strictEqual(post, "client_secret_post")

      const explicit = yield* Effect.provide(
        OAuthConfig.OAuthConfig,
        discoveredLayer({}, {
          clientAuthMethod: "client_secret_post",
          tokenEndpoint: `${credal}/custom/token`,
          requireIssuerParameter: false
        })
      )
      assert.strictEqual(explicit.clientAuthMethod, "client_secret_post")
      assert.strictEqual(explicit.tokenEndpoint.href, `${credal}/custom/token`)
      assert.isFalse(explicit.requireIssuerParameter)
      assert.strictEqual(explicit.authorizationEndpoint.href, `${credal}/api/oauth/authorize`)

      const noIss = yield* Effect.provide(OAuthConfig.OAuthConfig, discoveredLayer({ includeIssInCallback: false }))
      assert.isFalse(noIss.requireIssuerParameter)
    }))

  it.effect("fromMetadata: client_secret_basic when the list is absent, a typed error when nothing fits (S31)", () =>
    Effect.gen(function*() {
      const metadata = (fields: Record<string, unknown>) =>
        Discovery.AuthorizationServerMetadata.make({
          issuer,
          authorizationEndpoint: `${issuer}/authorize`,
          tokenEndpoint: `${issuer}/token`,
          ...fields
        })
      const absent = yield* Discovery.fromMetadata(metadata({}), client)
      assert.strictEqual(absent.clientAuthMethod, "client_secret_basic")
      assert.isFalse(absent.requireIssuerParameter)
      assert.isUndefined(absent.revocationEndpoint)
      const unsupported = yield* Effect.flip(
        Discovery.fromMetadata(metadata({ tokenEndpointAuthMethodsSupported: ["private_key_jwt"] }), client)
      )
      assert.strictEqual(unsupported.reason, "UnsupportedAuthMethod")
      assert.include(unsupported.message, "private_key_jwt")
      const chosen = yield* Discovery.fromMetadata(
        metadata({ tokenEndpointAuthMethodsSupported: ["private_key_jwt"] }),
        { ...client, clientAuthMethod: "client_secret_post" }
      )
      assert.strictEqual(chosen.clientAuthMethod, "client_secret_post")
    }))

  it.effect("the layer fails with the DiscoveryError, naming the issuer, when discovery fails (S31)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.provide(OAuthConfig.OAuthConfig, discoveredLayer({ metadataIssuer: "https://evil.example" }))
      )
      assert.strictEqual(error._tag, "DiscoveryError")
      assert.include(error.message, credal)
      const invalid = yield* Effect.flip(
        Effect.provide(OAuthConfig.OAuthConfig, discoveredLayer({}, { redirectUri: "not a url" }))
      )
      assert.strictEqual(invalid._tag, "InvalidConfig")
      assert.notInclude(JSON.stringify(invalid), "test-secret")
    }))
})
