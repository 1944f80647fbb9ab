import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { Buffer } from "node:buffer"
import * as FakeAuthorizationServer from "../src/FakeAuthorizationServer.js"
import type * as FakeAuthorizationServerFault from "../src/FakeAuthorizationServerFault.js"
import type * as FakeAuthorizationServerMetadata from "../src/FakeAuthorizationServerMetadata.js"

const { Fault } = FakeAuthorizationServer
const Server = FakeAuthorizationServer.FakeAuthorizationServer

// RFC 7636 Appendix B (verifier = base64url of the 32 octets listed there)
const verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

const authorizeEndpoint = "https://app.credal.ai/api/oauth/authorize"
const tokenEndpoint = "https://app.credal.ai/api/oauth/token"
const revokeEndpoint = "https://app.credal.ai/api/oauth/revoke"
const apiBase = "https://app.credal.ai/api/v1"
const redirectUri = "http://127.0.0.1:3000/callback"
const scope = "api:agent:message:*"

const run = <A, E>(
  effect: Effect.Effect<A, E, FakeAuthorizationServer.FakeAuthorizationServer | HttpClient.HttpClient>,
  options?: Partial<FakeAuthorizationServer.Options>
) => Effect.provide(effect, FakeAuthorizationServer.layerWithHttpClient(options))

const authorizationUrl = (params: Record<string, string | undefined> = {}): URL => {
  const url = new URL(authorizeEndpoint)
  const all: Record<string, string | undefined> = {
    response_type: "code",
    client_id: "test-client",
    redirect_uri: redirectUri,
    scope,
    state: "state-123",
    code_challenge: challenge,
    code_challenge_method: "S256",
    ...params
  }
  for (const [key, value] of Object.entries(all)) {
    if (value !== undefined) url.searchParams.append(key, value)
  }
  return url
}

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    const text = yield* response.text
    return { status: response.status, headers: response.headers, text } satisfies Answer
  })

const formEncode = (value: string) => new URLSearchParams([["", value]]).toString().slice(1)

const basicHeader = (clientId: string, clientSecret: string) =>
  `Basic ${Buffer.from(`${formEncode(clientId)}:${formEncode(clientSecret)}`, "ascii").toString("base64")}`

interface Auth {
  readonly method: "post" | "basic" | "none"
  readonly clientId?: string
  readonly clientSecret?: string
}

const post = (url: string, form: Record<string, string>, auth: Auth = { method: "post" }) => {
  const clientId = auth.clientId ?? "test-client"
  const clientSecret = auth.clientSecret ?? "test-secret"
  const body = auth.method === "post" ? { client_id: clientId, client_secret: clientSecret, ...form } : form
  const request = HttpClientRequest.post(url).pipe(
    HttpClientRequest.acceptJson,
    HttpClientRequest.bodyUrlParams(body)
  )
  return send(
    auth.method === "basic"
      ? HttpClientRequest.setHeader(request, "authorization", basicHeader(clientId, clientSecret))
      : request
  )
}

const TokenBody = Schema.parseJson(Schema.Struct({
  access_token: Schema.String,
  token_type: Schema.String,
  expires_in: Schema.optional(Schema.Number),
  refresh_token: Schema.optional(Schema.String),
  scope: Schema.optional(Schema.String)
}))

const ErrorBody = Schema.parseJson(Schema.Struct({
  error: Schema.String,
  error_description: Schema.optional(Schema.String)
}))

const tokensOf = (answer: Answer) =>
  Effect.gen(function*() {
    assert.strictEqual(answer.status, 200, answer.text)
    return yield* Schema.decodeUnknown(TokenBody)(answer.text)
  })

const errorOf = (answer: Answer) => Schema.decodeUnknown(ErrorBody)(answer.text)

const expectError = (answer: Answer, status: number, error: string) =>
  Effect.gen(function*() {
    assert.strictEqual(answer.status, status, answer.text)
    assert.strictEqual((yield* errorOf(answer)).error, error)
  })

const approveCode = (params: Record<string, string | undefined> = {}, user?: string) =>
  Effect.gen(function*() {
    const server = yield* Server
    const callback = yield* server.approve(authorizationUrl(params), user === undefined ? undefined : { user })
    const code = callback.searchParams.get("code")
    assert.isNotNull(code, callback.toString())
    return code ?? ""
  })

const exchange = (code: string, extra: Record<string, string> = {}, auth?: Auth) =>
  post(
    tokenEndpoint,
    { grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: verifier, ...extra },
    auth
  )

const refresh = (refreshToken: string, extra: Record<string, string> = {}) =>
  post(tokenEndpoint, { grant_type: "refresh_token", refresh_token: refreshToken, ...extra })

const signIn = Effect.gen(function*() {
  const code = yield* approveCode()
  return yield* tokensOf(yield* exchange(code))
})

const refreshTokenOf = (tokens: { readonly refresh_token?: string | undefined }) => {
  assert.isDefined(tokens.refresh_token)
  return tokens.refresh_token ?? ""
}

const whoami = (accessToken: string) =>
  send(HttpClientRequest.get(`${apiBase}/whoami`).pipe(HttpClientRequest.bearerToken(accessToken)))

describe("FakeAuthorizationServer", () => {
  describe("client authentication (RFC 6749 §2.3.1)", () => {
    it.effect("client_secret_post authenticates with client_id and client_secret in the body", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* tokensOf(yield* exchange(yield* approveCode(), {}, { method: "post" }))
        assert.strictEqual(tokens.token_type, "Bearer")
        const [entry] = (yield* server.requests).filter((r) => r.endpoint === "token")
        assert.strictEqual(entry?.clientAuth, "client_secret_post")
        assert.strictEqual(entry?.clientId, "test-client")
      })))

    it.effect("client_secret_basic form-urlencodes id and secret (with :, %, +, non-ASCII) before Base64", () => {
      const clientId = "weird:id%+é"
      const clientSecret = "s3:cr%t+pä ss/ü"
      return run(
        Effect.gen(function*() {
          const server = yield* Server
          const code = yield* approveCode({ client_id: clientId })
          const auth: Auth = { method: "basic", clientId, clientSecret }
          const tokens = yield* tokensOf(yield* exchange(code, {}, auth))
          assert.isTrue(yield* server.isAccessTokenValid(tokens.access_token))
          const entry = (yield* server.requests).find((r) => r.endpoint === "token")
          assert.strictEqual(entry?.clientAuth, "client_secret_basic")
          assert.strictEqual(entry?.clientId, clientId)

          // Base64 of the raw (not form-urlencoded) UTF-8 credentials is refused
          const raw = `Basic ${Buffer.from(`${clientId}:${clientSecret}`, "utf8").toString("base64")}`
          const rawAnswer = yield* send(
            HttpClientRequest.post(tokenEndpoint).pipe(
              HttpClientRequest.setHeader("authorization", raw),
              HttpClientRequest.bodyUrlParams({
                grant_type: "refresh_token",
                refresh_token: tokens.refresh_token ?? ""
              })
            )
          )
          yield* expectError(rawAnswer, 401, "invalid_client")
        }),
        {
          clients: [{
            clientId,
            clientSecret,
            redirectUris: [redirectUri],
            authMethods: ["client_secret_basic"]
          }]
        }
      )
    })

    it.effect("a wrong secret is 401 invalid_client with WWW-Authenticate: Basic", () =>
      run(Effect.gen(function*() {
        for (const method of ["post", "basic"] as const) {
          const answer = yield* exchange(yield* approveCode(), {}, { method, clientSecret: "wrong" })
          yield* expectError(answer, 401, "invalid_client")
          assert.match(answer.headers["www-authenticate"] ?? "", /^Basic realm="/)
        }
        yield* expectError(yield* exchange(yield* approveCode(), {}, { method: "none" }), 401, "invalid_client")
      })))

    it.effect("using client_secret_basic and client_secret_post at once is invalid_request", () =>
      run(Effect.gen(function*() {
        const code = yield* approveCode()
        const answer = yield* send(
          HttpClientRequest.post(tokenEndpoint).pipe(
            HttpClientRequest.setHeader("authorization", basicHeader("test-client", "test-secret")),
            HttpClientRequest.bodyUrlParams({
              grant_type: "authorization_code",
              code,
              redirect_uri: redirectUri,
              code_verifier: verifier,
              client_id: "test-client",
              client_secret: "test-secret"
            })
          )
        )
        yield* expectError(answer, 400, "invalid_request")
      })))

    it.effect("an auth method the client is not registered for is invalid_client", () =>
      run(
        Effect.gen(function*() {
          yield* expectError(yield* exchange(yield* approveCode(), {}, { method: "basic" }), 401, "invalid_client")
        }),
        { clients: [{ ...FakeAuthorizationServer.defaultClient, authMethods: ["client_secret_post"] }] }
      ))

    it.effect("secrets in the URL query are rejected (invalid_request)", () =>
      run(Effect.gen(function*() {
        const code = yield* approveCode()
        const answer = yield* send(
          HttpClientRequest.post(tokenEndpoint).pipe(
            HttpClientRequest.setUrlParams({ client_id: "test-client", client_secret: "test-secret" }),
            HttpClientRequest.bodyUrlParams({
              grant_type: "authorization_code",
              code,
              redirect_uri: redirectUri,
              code_verifier: verifier
            })
          )
        )
        yield* expectError(answer, 400, "invalid_request")
        // the code was not consumed by the rejected request
        yield* tokensOf(yield* exchange(code))
      })))

    it.effect("the token endpoint requires POST application/x-www-form-urlencoded without repeated parameters", () =>
      run(Effect.gen(function*() {
        const code = yield* approveCode()
        const asJson = yield* HttpClientRequest.post(tokenEndpoint).pipe(
          HttpClientRequest.bodyJson({ grant_type: "authorization_code", code, client_id: "test-client" })
        )
        yield* expectError(yield* send(asJson), 400, "invalid_request")
        const getAnswer = yield* send(HttpClientRequest.get(tokenEndpoint))
        yield* expectError(getAnswer, 405, "invalid_request")
        const repeated = yield* send(
          HttpClientRequest.post(tokenEndpoint).pipe(
            HttpClientRequest.bodyUrlParams([
              ["grant_type", "authorization_code"],
              ["code", code],
              ["code", code],
              ["redirect_uri", redirectUri],
              ["client_id", "test-client"],
              ["client_secret", "test-secret"]
            ])
          )
        )
        yield* expectError(repeated, 400, "invalid_request")
      })))
  })

  describe("authorization code grant", () => {
    it.effect("the token response is exactly access_token, token_type, expires_in, refresh_token, with no-store", () =>
      run(Effect.gen(function*() {
        const answer = yield* exchange(yield* approveCode())
        assert.strictEqual(answer.status, 200)
        assert.strictEqual(answer.headers["cache-control"], "no-store")
        assert.strictEqual(answer.headers["pragma"], "no-cache")
        assert.match(answer.headers["content-type"] ?? "", /^application\/json/)
        const body: unknown = JSON.parse(answer.text)
        assert.deepStrictEqual(Object.keys(body as object), [
          "access_token",
          "token_type",
          "expires_in",
          "refresh_token"
        ])
        const tokens = yield* tokensOf(answer)
        assert.strictEqual(tokens.token_type, "Bearer")
        assert.strictEqual(tokens.expires_in, 3600)
        assert.match(tokens.access_token, /^at_[A-Za-z0-9_-]{43}$/)
        assert.match(tokens.refresh_token ?? "", /^rt_[A-Za-z0-9_-]{43}$/)
      })))

    it.effect("includeScopeInResponse adds the granted scope", () =>
      run(
        Effect.gen(function*() {
          const tokens = yield* signIn
          assert.strictEqual(tokens.scope, scope)
        }),
        { includeScopeInResponse: true }
      ))

    it.effect("a code is single use: a replay is invalid_grant and revokes every token issued from it", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const code = yield* approveCode()
        const first = yield* tokensOf(yield* exchange(code))
        const second = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
        assert.isTrue(yield* server.isAccessTokenValid(second.access_token))
        yield* expectError(yield* exchange(code), 400, "invalid_grant")
        assert.isFalse(yield* server.isAccessTokenValid(first.access_token))
        assert.isFalse(yield* server.isAccessTokenValid(second.access_token))
        assert.isFalse(yield* server.isRefreshTokenValid(refreshTokenOf(second)))
        yield* expectError(yield* refresh(refreshTokenOf(second)), 400, "invalid_grant")
      })))

    it.effect("a code expires 10 minutes after it was issued", () =>
      run(Effect.gen(function*() {
        const fresh = yield* approveCode()
        const stale = yield* approveCode()
        yield* TestClock.adjust(Duration.sum(Duration.minutes(9), Duration.seconds(59)))
        yield* tokensOf(yield* exchange(fresh))
        yield* TestClock.adjust(Duration.seconds(1))
        yield* expectError(yield* exchange(stale), 400, "invalid_grant")
      })))

    it.effect("redirect_uri must be byte-identical to the authorization request's", () =>
      run(Effect.gen(function*() {
        const code = yield* approveCode()
        yield* expectError(yield* exchange(code, { redirect_uri: `${redirectUri}/` }), 400, "invalid_grant")
        yield* expectError(
          yield* exchange(code, { redirect_uri: "http://localhost:3000/callback" }),
          400,
          "invalid_grant"
        )
        yield* tokensOf(yield* exchange(code))
      })))

    it.effect("a code belongs to the client it was issued to", () =>
      run(
        Effect.gen(function*() {
          const code = yield* approveCode()
          const answer = yield* exchange(code, {}, { method: "post", clientId: "other", clientSecret: "other-secret" })
          yield* expectError(answer, 400, "invalid_grant")
        }),
        {
          clients: [FakeAuthorizationServer.defaultClient, {
            clientId: "other",
            clientSecret: "other-secret",
            redirectUris: [redirectUri]
          }]
        }
      ))
  })

  describe("PKCE (RFC 7636)", () => {
    it.effect("S256 verifies the RFC 7636 Appendix B vector", () =>
      run(Effect.gen(function*() {
        assert.strictEqual(FakeAuthorizationServer.s256Challenge(verifier), challenge)
        const tokens = yield* tokensOf(yield* exchange(yield* approveCode()))
        assert.strictEqual(tokens.token_type, "Bearer")
      })))

    it.effect("a wrong code_verifier is invalid_grant and a missing one is invalid_request", () =>
      run(Effect.gen(function*() {
        const code = yield* approveCode()
        const wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXl"
        yield* expectError(yield* exchange(code, { code_verifier: wrong }), 400, "invalid_grant")
        yield* expectError(
          yield* post(tokenEndpoint, { grant_type: "authorization_code", code, redirect_uri: redirectUri }),
          400,
          "invalid_request"
        )
      })))

    it.effect("a code_verifier for a code issued without a challenge is invalid_grant", () =>
      run(Effect.gen(function*() {
        const code = yield* approveCode({ code_challenge: undefined, code_challenge_method: undefined })
        yield* expectError(yield* exchange(code), 400, "invalid_grant")
        const withoutVerifier = yield* post(tokenEndpoint, {
          grant_type: "authorization_code",
          code,
          redirect_uri: redirectUri
        })
        yield* tokensOf(withoutVerifier)
      })))

    it.effect("the plain method is recorded and rejected with invalid_request", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const callback = yield* server.approve(
          authorizationUrl({ code_challenge: verifier, code_challenge_method: "plain" })
        )
        assert.strictEqual(callback.searchParams.get("error"), "invalid_request")
        assert.isNull(callback.searchParams.get("code"))
        const [entry] = yield* server.requests
        assert.strictEqual(entry?.endpoint, "authorize")
        assert.strictEqual(entry?.form["code_challenge_method"], "plain")
        assert.strictEqual(entry?.error, "invalid_request")
      })))

    it.effect("requirePkce rejects authorization requests without an S256 challenge", () =>
      run(
        Effect.gen(function*() {
          const server = yield* Server
          const callback = yield* server.approve(
            authorizationUrl({ code_challenge: undefined, code_challenge_method: undefined })
          )
          assert.strictEqual(callback.searchParams.get("error"), "invalid_request")
          const ok = yield* server.approve(authorizationUrl())
          assert.isNotNull(ok.searchParams.get("code"))
        }),
        { requirePkce: true }
      ))
  })

  describe("authorization request (approve / deny)", () => {
    it.effect("the callback carries code, the echoed state and iss (RFC 9207)", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const callback = yield* server.approve(authorizationUrl({ state: "s t+a/te" }))
        assert.strictEqual(callback.origin + callback.pathname, redirectUri)
        assert.strictEqual(callback.searchParams.get("state"), "s t+a/te")
        assert.strictEqual(callback.searchParams.get("iss"), "https://app.credal.ai")
        assert.isNotNull(callback.searchParams.get("code"))
      })))

    it.effect("includeIssInCallback off leaves iss out", () =>
      run(
        Effect.gen(function*() {
          const server = yield* Server
          const callback = yield* server.approve(authorizationUrl())
          assert.isFalse(callback.searchParams.has("iss"))
          assert.isTrue(callback.searchParams.has("code"))
        }),
        { includeIssInCallback: false }
      ))

    it.effect("deny redirects with error, error_description, state and iss", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const denied = yield* server.deny(authorizationUrl())
        assert.strictEqual(denied.searchParams.get("error"), "access_denied")
        assert.isNotNull(denied.searchParams.get("error_description"))
        assert.strictEqual(denied.searchParams.get("state"), "state-123")
        assert.strictEqual(denied.searchParams.get("iss"), "https://app.credal.ai")
        assert.isFalse(denied.searchParams.has("code"))
        const custom = yield* server.deny(authorizationUrl(), "temporarily_unavailable", "try later")
        assert.strictEqual(custom.searchParams.get("error"), "temporarily_unavailable")
        assert.strictEqual(custom.searchParams.get("error_description"), "try later")
      })))

    it.effect("an unknown client_id or unregistered redirect_uri fails without redirecting (§4.1.2.1)", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const unknownClient = yield* Effect.flip(server.approve(authorizationUrl({ client_id: "nobody" })))
        assert.strictEqual(unknownClient.reason, "InvalidClient")
        const badRedirect = yield* Effect.flip(
          server.approve(authorizationUrl({ redirect_uri: "http://127.0.0.1:3000/callback/" }))
        )
        assert.strictEqual(badRedirect.reason, "InvalidRedirectUri")
        const wrongEndpoint = yield* Effect.flip(server.approve("https://app.credal.ai/oauth/authorize?client_id=x"))
        assert.strictEqual(wrongEndpoint.reason, "WrongEndpoint")
        const denied = yield* Effect.flip(server.deny(authorizationUrl({ redirect_uri: "https://evil.example/cb" })))
        assert.strictEqual(denied.reason, "InvalidRedirectUri")
      })))

    it.effect("repeated parameters, a wrong response_type and unsupported scopes are error redirects", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const repeated = authorizationUrl()
        repeated.searchParams.append("state", "again")
        assert.strictEqual((yield* server.approve(repeated)).searchParams.get("error"), "invalid_request")
        const token = yield* server.approve(authorizationUrl({ response_type: "token" }))
        assert.strictEqual(token.searchParams.get("error"), "unsupported_response_type")
        const badScope = yield* server.approve(authorizationUrl({ scope: "admin" }))
        assert.strictEqual(badScope.searchParams.get("error"), "invalid_scope")
        assert.strictEqual(badScope.searchParams.get("state"), "state-123")
      })))
  })

  describe("access and refresh tokens", () => {
    it.effect("an access token is valid for 1 hour", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* signIn
        yield* TestClock.adjust(Duration.sum(Duration.minutes(59), Duration.seconds(59)))
        assert.strictEqual((yield* whoami(tokens.access_token)).status, 200)
        yield* TestClock.adjust(Duration.seconds(1))
        assert.isFalse(yield* server.isAccessTokenValid(tokens.access_token))
        const expired = yield* whoami(tokens.access_token)
        assert.strictEqual(expired.status, 401)
        assert.match(expired.headers["www-authenticate"] ?? "", /^Bearer .*error="invalid_token"/)
      })))

    it.effect("a refresh token lives 30 days counted from its own issue", () =>
      run(Effect.gen(function*() {
        const old = yield* signIn
        const rotated = yield* signIn
        yield* TestClock.adjust(Duration.days(29))
        const next = yield* tokensOf(yield* refresh(refreshTokenOf(rotated)))
        yield* TestClock.adjust(Duration.days(1))
        yield* expectError(yield* refresh(refreshTokenOf(old)), 400, "invalid_grant")
        yield* TestClock.adjust(Duration.days(28))
        yield* tokensOf(yield* refresh(refreshTokenOf(next)))
      })))

    it.effect("rotation: every refresh returns a new refresh token and the old one is dead at once", () =>
      run(
        Effect.gen(function*() {
          const server = yield* Server
          const first = yield* signIn
          const second = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
          assert.notStrictEqual(second.refresh_token, first.refresh_token)
          assert.notStrictEqual(second.access_token, first.access_token)
          assert.isFalse(yield* server.isRefreshTokenValid(refreshTokenOf(first)))
          yield* expectError(yield* refresh(refreshTokenOf(first)), 400, "invalid_grant")
          yield* tokensOf(yield* refresh(refreshTokenOf(second)))
        }),
        { reuseRevokesFamily: false }
      ))

    it.effect("reusing a rotated refresh token is invalid_grant and revokes the whole family", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const first = yield* signIn
        const second = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
        const unrelated = yield* signIn
        yield* expectError(yield* refresh(refreshTokenOf(first)), 400, "invalid_grant")
        assert.isFalse(yield* server.isAccessTokenValid(second.access_token))
        assert.strictEqual((yield* whoami(second.access_token)).status, 401)
        yield* expectError(yield* refresh(refreshTokenOf(second)), 400, "invalid_grant")
        assert.isTrue(yield* server.isAccessTokenValid(unrelated.access_token))
        const reused = (yield* server.requests).filter((r) => r.reusedRefreshToken)
        assert.strictEqual(reused.length, 1)
        assert.strictEqual(reused[0]?.refreshTokenPresented, first.refresh_token)
        assert.strictEqual((yield* server.counters).reusedRefreshTokens, 1)
        const grants = yield* server.grants
        assert.deepStrictEqual(grants.map((g) => g.revoked), [true, false])
      })))

    it.effect("concurrent refreshes with one refresh token: exactly one wins, the others are reuses", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* signIn
        const answers = yield* Effect.all(
          Array.from({ length: 5 }, () => refresh(refreshTokenOf(tokens))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(answers.filter((a) => a.status === 200).length, 1)
        assert.strictEqual((yield* server.counters).reusedRefreshTokens, 4)
        assert.isTrue((yield* server.grants)[0]?.revoked)
      })))

    it.effect("with reuseRevokesFamily off, a reuse fails but the family keeps working", () =>
      run(
        Effect.gen(function*() {
          const server = yield* Server
          const first = yield* signIn
          const second = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
          yield* expectError(yield* refresh(refreshTokenOf(first)), 400, "invalid_grant")
          assert.isTrue(yield* server.isAccessTokenValid(second.access_token))
          yield* tokensOf(yield* refresh(refreshTokenOf(second)))
        }),
        { reuseRevokesFamily: false }
      ))

    it.effect("grace window: a just-rotated token presented again returns the same new tokens", () =>
      run(
        Effect.gen(function*() {
          const server = yield* Server
          const first = yield* signIn
          const second = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
          yield* TestClock.adjust(Duration.seconds(20))
          const replay = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
          assert.strictEqual(replay.access_token, second.access_token)
          assert.strictEqual(replay.refresh_token, second.refresh_token)
          assert.strictEqual(replay.expires_in, 3600 - 20)
          const entry = (yield* server.requests).at(-1)
          assert.isTrue(entry?.graceReplay)
          assert.isTrue(entry?.reusedRefreshToken)
          yield* TestClock.adjust(Duration.seconds(11))
          yield* expectError(yield* refresh(refreshTokenOf(first)), 400, "invalid_grant")
          assert.isFalse(yield* server.isAccessTokenValid(second.access_token))
        }),
        { refreshGraceWindow: Duration.seconds(30) }
      ))

    it.effect("without rotation a refresh response has no refresh_token and the old one stays valid", () =>
      run(
        Effect.gen(function*() {
          const first = yield* signIn
          const second = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
          assert.isUndefined(second.refresh_token)
          const third = yield* tokensOf(yield* refresh(refreshTokenOf(first)))
          assert.notStrictEqual(third.access_token, second.access_token)
        }),
        { rotateRefreshTokens: false }
      ))

    it.effect("a refresh scope must be a subset of the granted scope", () =>
      run(
        Effect.gen(function*() {
          const server = yield* Server
          const callback = yield* server.approve(authorizationUrl({ scope: "read write" }))
          const tokens = yield* tokensOf(yield* exchange(callback.searchParams.get("code") ?? ""))
          yield* expectError(yield* refresh(refreshTokenOf(tokens), { scope: "read admin" }), 400, "invalid_scope")
          const narrowed = yield* tokensOf(yield* refresh(refreshTokenOf(tokens), { scope: "read" }))
          assert.strictEqual(narrowed.scope, "read")
        }),
        { scopes: ["read", "write", "admin"], includeScopeInResponse: true }
      ))

    it.effect("an unknown grant_type is unsupported_grant_type", () =>
      run(Effect.gen(function*() {
        const answer = yield* post(tokenEndpoint, { grant_type: "password", username: "u", password: "p" })
        yield* expectError(answer, 400, "unsupported_grant_type")
      })))

    it.effect("issueGrant seeds valid tokens and revokeAll revokes them", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const alice = yield* server.issueGrant({ user: "alice" })
        const bob = yield* server.issueGrant({ user: "bob" })
        assert.strictEqual(
          yield* Effect.map(whoami(alice.accessToken), (a) => a.text),
          "{\"user\":\"alice\",\"clientId\":\"test-client\"}"
        )
        yield* server.revokeAll("alice")
        assert.isFalse(yield* server.isAccessTokenValid(alice.accessToken))
        assert.isTrue(yield* server.isAccessTokenValid(bob.accessToken))
        yield* server.revokeAll()
        assert.isFalse(yield* server.isRefreshTokenValid(bob.refreshToken))
      })))
  })

  describe("revocation (RFC 7009)", () => {
    it.effect("revoking a refresh token revokes its family; unknown tokens answer 200", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* signIn
        const answer = yield* post(revokeEndpoint, {
          token: refreshTokenOf(tokens),
          token_type_hint: "refresh_token"
        })
        assert.strictEqual(answer.status, 200)
        assert.isFalse(yield* server.isAccessTokenValid(tokens.access_token))
        yield* expectError(yield* refresh(refreshTokenOf(tokens)), 400, "invalid_grant")
        assert.strictEqual((yield* post(revokeEndpoint, { token: "unknown-token" })).status, 200)
        assert.strictEqual((yield* server.counters).revoke, 2)
      })))

    it.effect("revoking an access token revokes only that token", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* signIn
        assert.strictEqual(
          (yield* post(revokeEndpoint, { token: tokens.access_token }, { method: "basic" })).status,
          200
        )
        assert.isFalse(yield* server.isAccessTokenValid(tokens.access_token))
        assert.isTrue(yield* server.isRefreshTokenValid(refreshTokenOf(tokens)))
      })))

    it.effect("revocation requires client authentication", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* signIn
        const answer = yield* post(revokeEndpoint, { token: refreshTokenOf(tokens) }, { method: "none" })
        yield* expectError(answer, 401, "invalid_client")
        assert.isTrue(yield* server.isRefreshTokenValid(refreshTokenOf(tokens)))
      })))
  })

  describe("protected resource", () => {
    it.effect("whoami answers only a currently valid bearer token", () =>
      run(Effect.gen(function*() {
        const tokens = yield* signIn
        const ok = yield* whoami(tokens.access_token)
        assert.strictEqual(ok.status, 200)
        assert.deepStrictEqual(JSON.parse(ok.text), { user: "test-user", clientId: "test-client" })
        const bad = yield* whoami("at_forged")
        assert.strictEqual(bad.status, 401)
        assert.match(bad.headers["www-authenticate"] ?? "", /error="invalid_token"/)
        const missing = yield* send(HttpClientRequest.get(`${apiBase}/whoami`))
        assert.strictEqual(missing.status, 401)
        assert.match(missing.headers["www-authenticate"] ?? "", /^Bearer realm=/)
      })))

    it.effect("sendMessage returns a jobId and fetchAgentResponse completes it", () =>
      run(Effect.gen(function*() {
        const tokens = yield* signIn
        const sent = yield* send(
          HttpClientRequest.post(`${apiBase}/agents/sendMessage`).pipe(
            HttpClientRequest.bearerToken(tokens.access_token),
            HttpClientRequest.bodyUnsafeJson({ message: "hello" })
          )
        )
        assert.strictEqual(sent.status, 200)
        const { jobId } = yield* Schema.decodeUnknown(Schema.parseJson(Schema.Struct({ jobId: Schema.String })))(
          sent.text
        )
        const fetched = yield* send(
          HttpClientRequest.get(`${apiBase}/agents/fetchAgentResponse`).pipe(
            HttpClientRequest.setUrlParam("jobId", jobId),
            HttpClientRequest.bearerToken(tokens.access_token)
          )
        )
        assert.strictEqual(fetched.status, 200)
        assert.deepStrictEqual(JSON.parse(fetched.text), {
          jobId,
          status: "completed",
          response: { message: "echo: hello" }
        })
        const unauthorized = yield* send(HttpClientRequest.post(`${apiBase}/agents/sendMessage`))
        assert.strictEqual(unauthorized.status, 401)
      })))

    it.effect("any other URL answers 404", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        assert.strictEqual((yield* send(HttpClientRequest.get("https://app.credal.ai/nope"))).status, 404)
        assert.strictEqual((yield* send(HttpClientRequest.get("https://example.com/api/oauth/token"))).status, 404)
        assert.strictEqual((yield* send(HttpClientRequest.get(`${apiBase}/unknown`))).status, 404)
        assert.deepStrictEqual((yield* server.requests).map((r) => r.endpoint), ["other", "other", "api"])
      })))
  })

  describe("fault injection", () => {
    describe("hostile faults (S32–S34)", () => {
      it.effect("StalledBody commits, sends the headers and the first bytes, and never ends the body", () =>
        run(Effect.gen(function*() {
          const server = yield* Server
          const client = yield* HttpClient.HttpClient
          const code = yield* approveCode()
          yield* server.inject(Fault.StalledBody({ endpoint: "token", bytes: 10 }))
          const request = HttpClientRequest.post(tokenEndpoint).pipe(
            HttpClientRequest.bodyUrlParams({
              client_id: "test-client",
              client_secret: "test-secret",
              grant_type: "authorization_code",
              code,
              redirect_uri: redirectUri,
              code_verifier: verifier
            })
          )
          const response = yield* client.execute(request)
          assert.strictEqual(response.status, 200)
          let received = 0
          const reading = yield* Effect.fork(Stream.runForEach(response.stream, (chunk) =>
            Effect.sync(() => {
              received += chunk.length
            })))
          yield* TestClock.adjust(Duration.days(1))
          assert.isTrue(Option.isNone(yield* Fiber.poll(reading)))
          assert.strictEqual(received, 10)
          yield* Fiber.interrupt(reading)
          assert.lengthOf(yield* server.grants, 1)
        })))

      it.effect("StalledHeaders commits and never answers", () =>
        run(Effect.gen(function*() {
          const server = yield* Server
          const code = yield* approveCode()
          yield* server.inject(Fault.StalledHeaders({ endpoint: "token" }))
          const fiber = yield* Effect.fork(exchange(code))
          yield* TestClock.adjust(Duration.days(1))
          assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
          yield* Fiber.interrupt(fiber)
          assert.lengthOf(yield* server.grants, 1)
        })))

      it.effect("EchoRequest answers an error whose description quotes the request in every encoding", () =>
        run(Effect.gen(function*() {
          const server = yield* Server
          const code = yield* approveCode()
          yield* server.inject(Fault.EchoRequest({ endpoint: "token" }))
          const answer = yield* exchange(code)
          yield* expectError(answer, 400, "invalid_request")
          const description = (yield* errorOf(answer)).error_description ?? ""
          for (const value of [code, verifier, "test-secret"]) {
            assert.include(description, value)
            assert.include(description, Buffer.from(value).toString("base64"))
          }
          assert.isEmpty(yield* server.grants)
        })))

      it.effect("DeepJson nests the chosen field 10 000 levels deep; OutOfRangeNumbers sets expires_in", () =>
        run(Effect.gen(function*() {
          const server = yield* Server
          yield* server.inject(Fault.DeepJson({ endpoint: "token", depth: 10_000, field: "scope" }))
          const deep = yield* exchange(yield* approveCode())
          assert.include(deep.text, `"scope":${"[".repeat(10_000)}`)
          const parsed: unknown = JSON.parse(deep.text)
          assert.isTrue(typeof parsed === "object" && parsed !== null && "access_token" in parsed)
          yield* server.inject(Fault.OutOfRangeNumbers({ endpoint: "token" }))
          const tokens = yield* tokensOf(yield* exchange(yield* approveCode()))
          assert.strictEqual(tokens.expires_in, 9999999999999)
        })))
    })

    it.effect("Status answers the given status and body without touching state", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const code = yield* approveCode()
        yield* server.inject(
          Fault.Status({ endpoint: "token", status: 503, body: "busy", headers: { "retry-after": "1" } })
        )
        const answer = yield* exchange(code)
        assert.strictEqual(answer.status, 503)
        assert.strictEqual(answer.text, "busy")
        assert.strictEqual(answer.headers["retry-after"], "1")
        yield* tokensOf(yield* exchange(code))
        assert.deepStrictEqual((yield* server.requests).map((r) => r.fault), [undefined, "Status", undefined])
      })))

    it.effect("Delay sleeps on the Clock before handling", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const code = yield* approveCode()
        yield* server.inject(Fault.Delay({ endpoint: "token", duration: Duration.seconds(5) }))
        const fiber = yield* Effect.fork(exchange(code))
        yield* TestClock.adjust(Duration.seconds(4))
        assert.isTrue(Option.isNone(yield* Fiber.poll(fiber)))
        yield* TestClock.adjust(Duration.seconds(1))
        const tokens = yield* tokensOf(yield* Fiber.join(fiber))
        assert.strictEqual(tokens.expires_in, 3600)
      })))

    it.effect("MalformedBody answers a broken 200 of every kind without touching state", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const code = yield* approveCode()
        const kinds: ReadonlyArray<FakeAuthorizationServerFault.MalformedBodyKind> = [
          "html",
          "empty",
          "not-json",
          "json-array",
          "wrong-types",
          "missing-access-token",
          "wrong-token-type",
          "huge-body"
        ]
        for (const kind of kinds) {
          yield* server.inject(Fault.MalformedBody({ endpoint: "token", kind }))
          const answer = yield* exchange(code)
          assert.strictEqual(answer.status, 200)
          const decoded = yield* Effect.either(Schema.decodeUnknown(TokenBody)(answer.text))
          const valid = decoded._tag === "Right" && decoded.right.token_type.toLowerCase() === "bearer" &&
            answer.text.length <= 1024 * 1024
          assert.isFalse(valid, kind)
        }
        assert.isAbove((yield* server.requests).at(-1)?.status ?? 0, 0)
        assert.isEmpty(yield* server.grants)
        yield* tokensOf(yield* exchange(code))
      })))

    it.effect("HugeTokens issues a real grant whose tokens have the given size", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        yield* server.inject(Fault.HugeTokens({ endpoint: "token", size: 9000 }))
        const tokens = yield* signIn
        assert.strictEqual(tokens.access_token.length, 9000)
        assert.strictEqual(tokens.refresh_token?.length, 9000)
        assert.strictEqual((yield* whoami(tokens.access_token)).status, 200)
        const next = yield* tokensOf(yield* refresh(refreshTokenOf(tokens)))
        assert.isBelow(next.access_token.length, 100)
      })))

    it.effect("tokenBytes sets the size of every generated token", () =>
      run(
        Effect.gen(function*() {
          const tokens = yield* signIn
          assert.strictEqual(tokens.access_token.length, 8192)
          assert.strictEqual(tokens.refresh_token?.length, 8192)
        }),
        { tokenBytes: 8192 }
      ))

    it.effect("TokenResponseExtras and tokenResponseExtras add unknown fields or a different scope", () =>
      run(
        Effect.gen(function*() {
          const server = yield* Server
          yield* server.inject(Fault.TokenResponseExtras({ endpoint: "token", extras: { scope: "other" } }))
          const answer = yield* exchange(yield* approveCode())
          const body: unknown = JSON.parse(answer.text)
          assert.deepInclude(body, { scope: "other", unknown_field: 1 })
        }),
        { tokenResponseExtras: { unknown_field: 1 } }
      ))

    it.effect("CommitThenDrop commits (code consumed, token rotated) then fails with a transport error", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const code = yield* approveCode()
        yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "authorization_code" }))
        const lost = yield* Effect.flip(exchange(code))
        assert.strictEqual(lost._tag, "RequestError")
        assert.strictEqual(lost._tag === "RequestError" ? lost.reason : undefined, "Transport")
        const [grant] = yield* server.grants
        assert.isDefined(grant)
        yield* expectError(yield* exchange(code), 400, "invalid_grant")

        const tokens = yield* signIn
        yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
        yield* Effect.flip(refresh(refreshTokenOf(tokens)))
        assert.isFalse(yield* server.isRefreshTokenValid(refreshTokenOf(tokens)))
        const entry = (yield* server.requests).find((r) =>
          r.fault === "CommitThenDrop" && r.grantType === "refresh_token"
        )
        assert.strictEqual(entry?.status, 200)
        assert.isFalse(entry?.delivered)
      })))

    it.effect("TransportError fails before touching state", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const code = yield* approveCode()
        yield* server.inject(Fault.TransportError({ endpoint: "any", times: 2 }))
        const first = yield* Effect.flip(exchange(code))
        assert.strictEqual(first._tag === "RequestError" ? first.reason : undefined, "Transport")
        yield* Effect.flip(whoami("at_x"))
        yield* tokensOf(yield* exchange(code))
        assert.deepStrictEqual((yield* server.requests).map((r) => r.status), [302, 0, 0, 200])
      })))

    it.effect("faults match endpoint and grantType and apply `times` times", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* signIn
        yield* server.inject(Fault.Status({ endpoint: "token", grantType: "refresh_token", status: 500, times: 2 }))
        yield* server.inject(Fault.Status({ endpoint: "revoke", status: 503 }))
        assert.strictEqual((yield* whoami(tokens.access_token)).status, 200)
        assert.strictEqual((yield* refresh(refreshTokenOf(tokens))).status, 500)
        assert.strictEqual((yield* refresh(refreshTokenOf(tokens))).status, 500)
        assert.strictEqual((yield* server.pendingFaults).length, 1)
        yield* tokensOf(yield* refresh(refreshTokenOf(tokens)))
        yield* server.clearFaults
        assert.strictEqual((yield* post(revokeEndpoint, { token: "x" })).status, 200)
      })))
  })

  describe("observability", () => {
    it.effect("the request log and counters record every request", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        const tokens = yield* signIn
        yield* TestClock.adjust(Duration.seconds(7))
        yield* refresh(refreshTokenOf(tokens))
        yield* whoami(tokens.access_token)
        yield* post(revokeEndpoint, { token: "nothing" })
        const entries = yield* server.requests
        assert.deepStrictEqual(entries.map((e) => [e.endpoint, e.method, e.status]), [
          ["authorize", "GET", 302],
          ["token", "POST", 200],
          ["token", "POST", 200],
          ["api", "GET", 200],
          ["revoke", "POST", 200]
        ])
        const refreshEntry = entries[2]
        assert.strictEqual(refreshEntry?.at, 7000)
        assert.strictEqual(refreshEntry?.grantType, "refresh_token")
        assert.strictEqual(refreshEntry?.refreshTokenPresented, tokens.refresh_token)
        assert.strictEqual(refreshEntry?.form["client_secret"], "test-secret")
        assert.strictEqual(refreshEntry?.headers["content-type"], "application/x-www-form-urlencoded")
        assert.strictEqual(refreshEntry?.url, tokenEndpoint)
        assert.isFalse(refreshEntry?.reusedRefreshToken)
        assert.deepStrictEqual(yield* server.counters, {
          authorize: 1,
          token: 2,
          authorizationCode: 1,
          refreshToken: 1,
          revoke: 1,
          api: 1,
          reusedRefreshTokens: 0
        })
        yield* server.clearLog
        assert.isEmpty(yield* server.requests)
        assert.strictEqual((yield* server.counters).token, 0)
        assert.isTrue(yield* server.isAccessTokenValid(tokens.access_token))
        yield* server.reset
        assert.isFalse(yield* server.isAccessTokenValid(tokens.access_token))
        assert.isEmpty(yield* server.grants)
      })))

    it.effect("errors are logged with their OAuth error code", () =>
      run(Effect.gen(function*() {
        const server = yield* Server
        yield* refresh("rt_unknown")
        const [entry] = yield* server.requests
        assert.strictEqual(entry?.status, 400)
        assert.strictEqual(entry?.error, "invalid_grant")
        assert.strictEqual(entry?.clientAuth, "client_secret_post")
      })))
  })
})

describe("FakeAuthorizationServer metadata (RFC 8414, S31)", () => {
  const oauthMetadata = "https://app.credal.ai/.well-known/oauth-authorization-server"
  const openIdConfiguration = "https://app.credal.ai/.well-known/openid-configuration"

  const documentOf = (answer: Answer) =>
    Effect.sync(() => {
      assert.strictEqual(answer.status, 200, answer.text)
      const body: unknown = JSON.parse(answer.text)
      assert.isTrue(typeof body === "object" && body !== null && !Array.isArray(body))
      return body as Record<string, unknown>
    })

  const expected = {
    issuer: "https://app.credal.ai",
    authorization_endpoint: authorizeEndpoint,
    token_endpoint: tokenEndpoint,
    revocation_endpoint: revokeEndpoint,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    scopes_supported: [scope],
    authorization_response_iss_parameter_supported: true
  }

  it.effect("GET /.well-known/oauth-authorization-server answers the RFC 8414 document of the server (S31)", () =>
    run(Effect.gen(function*() {
      const answer = yield* send(HttpClientRequest.get(oauthMetadata))
      assert.match(answer.headers["content-type"] ?? "", /^application\/json/)
      assert.deepStrictEqual(yield* documentOf(answer), expected)
    })))

  it.effect("GET /.well-known/openid-configuration answers the same document (OpenID variant of S31)", () =>
    run(Effect.gen(function*() {
      assert.deepStrictEqual(yield* documentOf(yield* send(HttpClientRequest.get(openIdConfiguration))), expected)
    })))

  it.effect("the metadata option chooses which documents are served; the others are 404 (S31)", () =>
    Effect.gen(function*() {
      const statuses = (metadata: FakeAuthorizationServerMetadata.MetadataMode | undefined) =>
        run(
          Effect.all([
            Effect.map(send(HttpClientRequest.get(oauthMetadata)), (answer) => answer.status),
            Effect.map(send(HttpClientRequest.get(openIdConfiguration)), (answer) => answer.status)
          ]),
          metadata === undefined ? {} : { metadata }
        )
      assert.deepStrictEqual(yield* statuses(undefined), [200, 200])
      assert.deepStrictEqual(yield* statuses("both"), [200, 200])
      assert.deepStrictEqual(yield* statuses("oauth"), [200, 404])
      assert.deepStrictEqual(yield* statuses("openid"), [404, 200])
      assert.deepStrictEqual(yield* statuses("none"), [404, 404])
    }))

  it.effect("an issuer with a path: RFC 8414 puts the well-known segment before the path, OpenID after it (S31)", () =>
    run(
      Effect.gen(function*() {
        const server = yield* Server
        assert.strictEqual(
          server.endpoints.oauthMetadata,
          "https://auth.example.com/.well-known/oauth-authorization-server/tenants/acme"
        )
        assert.strictEqual(
          server.endpoints.openIdConfiguration,
          "https://auth.example.com/tenants/acme/.well-known/openid-configuration"
        )
        const document = yield* documentOf(yield* send(HttpClientRequest.get(server.endpoints.oauthMetadata)))
        assert.strictEqual(document.issuer, "https://auth.example.com/tenants/acme")
        assert.strictEqual(document.token_endpoint, "https://auth.example.com/tenants/acme/api/oauth/token")
        yield* documentOf(yield* send(HttpClientRequest.get(server.endpoints.openIdConfiguration)))
        const misplaced = [
          "https://auth.example.com/tenants/acme/.well-known/oauth-authorization-server",
          "https://auth.example.com/.well-known/oauth-authorization-server",
          "https://auth.example.com/.well-known/openid-configuration"
        ]
        for (const url of misplaced) {
          assert.strictEqual((yield* send(HttpClientRequest.get(url))).status, 404, url)
        }
      }),
      { issuer: "https://auth.example.com/tenants/acme" }
    ))

  it.effect("metadataIssuer makes the document claim another issuer, for testing S31 rejection", () =>
    run(
      Effect.gen(function*() {
        const document = yield* documentOf(yield* send(HttpClientRequest.get(oauthMetadata)))
        assert.strictEqual(document.issuer, "https://evil.example")
        assert.strictEqual(document.token_endpoint, tokenEndpoint)
      }),
      { metadataIssuer: "https://evil.example" }
    ))

  it.effect("the document follows the options: clients' auth methods, scopes, iss support (RFC 9207)", () =>
    run(
      Effect.gen(function*() {
        const document = yield* documentOf(yield* send(HttpClientRequest.get(oauthMetadata)))
        assert.deepStrictEqual(document.token_endpoint_auth_methods_supported, ["client_secret_post"])
        assert.deepStrictEqual(document.revocation_endpoint_auth_methods_supported, ["client_secret_post"])
        assert.deepStrictEqual(document.scopes_supported, ["read", "write"])
        assert.strictEqual(document.authorization_response_iss_parameter_supported, false)
      }),
      {
        clients: [{ ...FakeAuthorizationServer.defaultClient, authMethods: ["client_secret_post"] }],
        scopes: ["read", "write"],
        includeIssInCallback: false
      }
    ))

  it.effect("metadata requests are logged as `metadata`, only GET is allowed, and faults can target them", () =>
    run(Effect.gen(function*() {
      const server = yield* Server
      const posted = yield* send(HttpClientRequest.post(oauthMetadata))
      assert.strictEqual(posted.status, 405)
      assert.strictEqual(posted.headers["allow"], "GET")
      yield* server.inject(Fault.Status({ endpoint: "metadata", status: 500, body: "<html>oops</html>" }))
      const failed = yield* send(HttpClientRequest.get(oauthMetadata))
      assert.strictEqual(failed.status, 500)
      assert.strictEqual(failed.text, "<html>oops</html>")
      yield* documentOf(yield* send(HttpClientRequest.get(oauthMetadata)))
      const entries = yield* server.requests
      assert.deepStrictEqual(entries.map((e) => [e.endpoint, e.status, e.fault]), [
        ["metadata", 405, undefined],
        ["metadata", 500, "Status"],
        ["metadata", 200, undefined]
      ])
      assert.strictEqual((yield* server.counters).token, 0)
    })))
})

describe("FakeAuthorizationServer.prompt (RFC 6749 §4.1.2.1)", () => {
  it.effect("a valid request yields the consent to ask for, without logging or issuing a code (S9)", () =>
    run(Effect.gen(function*() {
      const server = yield* Server
      const prompt = yield* server.prompt(authorizationUrl({ state: "xyz" }))
      assert.deepStrictEqual(prompt, {
        _tag: "Consent",
        clientId: "test-client",
        redirectUri,
        scope: [scope],
        state: "xyz"
      })
      const noScope = yield* server.prompt(authorizationUrl({ scope: undefined }))
      assert.deepStrictEqual(noScope._tag === "Consent" ? noScope.scope : [], [scope])
      assert.isEmpty(yield* server.requests)
      assert.isEmpty(yield* server.grants)
    })))

  it.effect("a bad client or a redirect URI not matching exactly fails as approve does, without a redirect (S4, §4.1.2.1)", () =>
    run(Effect.gen(function*() {
      const server = yield* Server
      const unknownClient = yield* Effect.flip(server.prompt(authorizationUrl({ client_id: "nobody" })))
      assert.strictEqual(unknownClient.reason, "InvalidClient")
      const badRedirect = yield* Effect.flip(server.prompt(authorizationUrl({ redirect_uri: "https://evil.example" })))
      assert.strictEqual(badRedirect.reason, "InvalidRedirectUri")
      assert.deepStrictEqual((yield* server.requests).map((e) => [e.endpoint, e.status]), [
        ["authorize", 400],
        ["authorize", 400]
      ])
    })))

  it.effect("any other invalid parameter is the error redirect approve would return, logged (S3, S7, §4.1.2.1)", () =>
    run(Effect.gen(function*() {
      const server = yield* Server
      const prompt = yield* server.prompt(authorizationUrl({ scope: "admin" }))
      assert.strictEqual(prompt._tag, "Redirect")
      const url = prompt._tag === "Redirect" ? prompt.url : new URL("about:blank")
      assert.strictEqual(url.searchParams.get("error"), "invalid_scope")
      assert.strictEqual(url.searchParams.get("state"), "state-123")
      assert.strictEqual(url.searchParams.get("iss"), "https://app.credal.ai")
      const plain = yield* server.prompt(authorizationUrl({ code_challenge_method: "plain" }))
      assert.strictEqual(plain._tag === "Redirect" ? plain.url.searchParams.get("error") : "", "invalid_request")
      assert.strictEqual((yield* server.counters).authorize, 2)
      assert.isEmpty(yield* server.grants)
    })))
})

describe("loopback redirect URIs (RFC 8252 §7.3)", () => {
  const onPort = (port: number) => `http://127.0.0.1:${port}/callback`

  it.effect("by default a loopback redirect URI must match exactly, port included (S4)", () =>
    run(
      Effect.gen(function*() {
        const server = yield* Server
        const error = yield* Effect.flip(server.approve(authorizationUrl({ redirect_uri: onPort(54321) })))
        assert.strictEqual(error.reason, "InvalidRedirectUri")
      })
    ))

  it.effect("with loopbackAnyPort a registered loopback URI matches on any port, and only the port may differ (S4)", () =>
    run(
      Effect.gen(function*() {
        const server = yield* Server
        const callback = yield* server.approve(authorizationUrl({ redirect_uri: onPort(54321) }))
        assert.strictEqual(callback.origin + callback.pathname, onPort(54321))
        const otherPath = yield* Effect.flip(
          server.approve(authorizationUrl({ redirect_uri: "http://127.0.0.1:54321/elsewhere" }))
        )
        assert.strictEqual(otherPath.reason, "InvalidRedirectUri")
        const otherHost = yield* Effect.flip(
          server.approve(authorizationUrl({ redirect_uri: "http://localhost:54321/callback" }))
        )
        assert.strictEqual(otherHost.reason, "InvalidRedirectUri")
      }),
      { loopbackAnyPort: true }
    ))
})
