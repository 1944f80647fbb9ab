import { OAuthError, PendingAuthorization, Pkce, SecureRandom, TokenSet } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import { authorizeAndCallback, options, recordingOAuthClient } from "./utils/config.js"
import * as RecordingClient from "./utils/recordingClient.js"

const failure = <A, E>(effect: Effect.Effect<A, E>) => Effect.flip(effect)

describe("OAuthClient.authorize", () => {
  it.effect("each request gets a fresh base64url state of at least 128 bits (S1)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient()
      const states = new Set<string>()
      for (let i = 0; i < 100; i++) {
        const { pending, url } = yield* client.authorize()
        const state = Redacted.value(pending.state)
        assert.match(state, /^[A-Za-z0-9_-]+$/)
        assert.isAtLeast(Buffer.from(state, "base64url").length * 8, 128)
        assert.strictEqual(url.searchParams.get("state"), state)
        states.add(state)
      }
      assert.strictEqual(states.size, 100)
    }))

  it.effect("state and verifier come from the SecureRandom service, so tests can make them reproducible (S1)", () =>
    Effect.gen(function*() {
      const run = Effect.flatMap(recordingOAuthClient(), ({ client }) => client.authorize()).pipe(
        Effect.provide(SecureRandom.layerDeterministic(7))
      )
      const a = yield* run
      const b = yield* run
      assert.strictEqual(Redacted.value(a.pending.state), Redacted.value(b.pending.state))
      assert.strictEqual(a.url.href, b.url.href)
    }))

  it.effect("PKCE S256 is on by default, with a new verifier per request and its challenge in the URL (S3)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient()
      const first = yield* client.authorize()
      const second = yield* client.authorize()
      const verifier = Option.getOrThrow(first.pending.codeVerifier)
      assert.match(Redacted.value(verifier), Pkce.verifierPattern)
      assert.strictEqual(first.url.searchParams.get("code_challenge_method"), "S256")
      assert.strictEqual(first.url.searchParams.get("code_challenge"), yield* Pkce.challenge(verifier))
      assert.notStrictEqual(
        Redacted.value(verifier),
        Redacted.value(Option.getOrThrow(second.pending.codeVerifier))
      )
    }))

  it.effect("with PKCE off no challenge is sent, and plain is never sent (S3)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient(undefined, {
        pkce: false,
        authorizationEndpoint: "https://auth.example.com/authorize?code_challenge_method=plain&code_challenge=x"
      })
      const { pending, url } = yield* client.authorize()
      assert.isTrue(Option.isNone(pending.codeVerifier))
      assert.isNull(url.searchParams.get("code_challenge"))
      assert.isNull(url.searchParams.get("code_challenge_method"))
    }))

  it.effect("the endpoint's own query is kept and no parameter is repeated (S5)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient(undefined, {
        authorizationEndpoint:
          "https://auth.example.com/authorize?tenant=acme&scope=old&state=fixed&response_type=token",
        authorizationParams: { prompt: "consent", state: "attacker" }
      })
      const { pending, url } = yield* client.authorize({ params: { login_hint: "ann", client_id: "other" } })
      assert.strictEqual(url.searchParams.get("tenant"), "acme")
      assert.strictEqual(url.searchParams.get("prompt"), "consent")
      assert.strictEqual(url.searchParams.get("login_hint"), "ann")
      assert.strictEqual(url.searchParams.get("response_type"), "code")
      assert.strictEqual(url.searchParams.get("client_id"), "client-1")
      assert.strictEqual(url.searchParams.get("scope"), "read write")
      assert.strictEqual(url.searchParams.get("state"), Redacted.value(pending.state))
      const names = Array.from(url.searchParams.keys())
      assert.deepStrictEqual(names, Array.from(new Set(names)))
    }))

  it.effect.prop(
    "authorization URLs parse back to the same parameters for arbitrary configurations (S4, S5)",
    {
      clientId: FastCheck.string({ minLength: 1, maxLength: 40 }),
      scopes: FastCheck.array(FastCheck.stringMatching(/^[\x21\x23-\x5b\x5d-\x7e]{1,12}$/), { maxLength: 5 }),
      path: FastCheck.webSegment(),
      query: FastCheck.dictionary(
        FastCheck.stringMatching(/^[a-z]{1,8}$/).filter((k) => !["scope", "state"].includes(k)),
        FastCheck.string()
      ),
      pkce: FastCheck.boolean()
    },
    ({ clientId, path, pkce, query, scopes }) =>
      Effect.gen(function*() {
        const endpoint = new URL("https://auth.example.com/authorize")
        for (const [k, v] of Object.entries(query)) endpoint.searchParams.set(k, v)
        const redirectUri = `https://app.example.com/${encodeURIComponent(path)}?from=prop`
        const { client } = yield* recordingOAuthClient(undefined, {
          clientId,
          scopes,
          pkce,
          redirectUri,
          authorizationEndpoint: endpoint.href
        })
        const { pending, url } = yield* client.authorize()
        const parsed = new URL(url.href).searchParams
        assert.strictEqual(parsed.get("client_id"), clientId)
        assert.strictEqual(parsed.get("redirect_uri"), redirectUri)
        assert.strictEqual(pending.redirectUri, redirectUri)
        assert.strictEqual(parsed.get("scope"), scopes.length === 0 ? null : scopes.join(" "))
        assert.deepStrictEqual(parsed.get("scope")?.split(" ") ?? [], scopes)
        assert.strictEqual(parsed.get("state"), Redacted.value(pending.state))
        assert.strictEqual(parsed.get("code_challenge_method"), pkce ? "S256" : null)
        for (const [k, v] of Object.entries(query)) {
          if (!["response_type", "client_id", "redirect_uri", "code_challenge", "code_challenge_method"].includes(k)) {
            assert.strictEqual(parsed.get(k), v)
          }
        }
        const names = Array.from(parsed.keys())
        assert.strictEqual(names.length, new Set(names).size)
      }),
    { fastCheck: { numRuns: 100 } }
  )
})

describe("OAuthClient.callback", () => {
  it.effect("a matching callback gives the code (S6)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const { callback, pending } = yield* authorizeAndCallback(client)
      const code = yield* client.callback(callback, pending)
      assert.strictEqual(Redacted.value(code), "code-abc")
      assert.strictEqual((yield* requests).length, 0)
    }))

  it.effect("a missing or mismatched state is a typed error and no token request is made (S6)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const { callback, pending } = yield* authorizeAndCallback(client)
      const missing = new URL(callback)
      missing.searchParams.delete("state")
      const wrong = new URL(callback)
      const state = Redacted.value(pending.state)
      wrong.searchParams.set("state", state.slice(0, -1) + (state.endsWith("A") ? "B" : "A"))
      const e1 = yield* failure(client.complete(missing, pending))
      const e2 = yield* failure(client.complete(wrong, pending))
      assert.deepStrictEqual([e1._tag, e2._tag], ["StateMismatch", "StateMismatch"])
      assert.strictEqual((e1 as OAuthError.StateMismatch).reason, "missing")
      assert.strictEqual((e2 as OAuthError.StateMismatch).reason, "mismatch")
      assert.strictEqual((yield* requests).length, 0)
    }))

  it.effect("a state is good for one callback only: a replay fails before the token endpoint (S2, S6)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const { callback, pending } = yield* authorizeAndCallback(client)
      yield* client.complete(callback, pending)
      assert.strictEqual((yield* requests).length, 1)
      const replay = yield* failure(client.complete(callback, pending))
      assert.strictEqual(replay._tag, "StateMismatch")
      assert.strictEqual((replay as OAuthError.StateMismatch).reason, "reused")
      assert.strictEqual((yield* requests).length, 1)
    }))

  it.effect("concurrent replays of one callback let exactly one through (S2)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const { callback, pending } = yield* authorizeAndCallback(client)
      const results = yield* Effect.all(
        Array.from({ length: 20 }, () => Effect.either(client.complete(callback, pending))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Either.isRight).length, 1)
      assert.strictEqual((yield* requests).length, 1)
    }))

  it.effect("error callbacks become AuthorizationDenied with code and description, unknown codes kept (S7)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      for (
        const code of ["access_denied", "invalid_scope", "server_error", "temporarily_unavailable", "vendor_specific"]
      ) {
        const { callback, pending } = yield* authorizeAndCallback(client, {
          error: code,
          error_description: "because",
          error_uri: "https://auth.example.com/help"
        })
        callback.searchParams.delete("code")
        const error = yield* failure(client.complete(callback, pending))
        assert.instanceOf(error, OAuthError.AuthorizationDenied)
        const denied = error as OAuthError.AuthorizationDenied
        assert.strictEqual(denied.error, code)
        assert.strictEqual(denied.description, "because")
        assert.strictEqual(denied.uri, "https://auth.example.com/help")
        assert.include(denied.message, code)
      }
      assert.strictEqual((yield* requests).length, 0)
    }))

  it.effect("a different iss is rejected before any token request (S8)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const { callback, pending } = yield* authorizeAndCallback(client, { iss: "https://evil.example.com" })
      const error = yield* failure(client.complete(callback, pending))
      assert.instanceOf(error, OAuthError.IssuerMismatch)
      assert.strictEqual((error as OAuthError.IssuerMismatch).received, "https://evil.example.com")
      assert.strictEqual((yield* requests).length, 0)
    }))

  it.effect("iss is ignored without a configured issuer, and required when requireIssuerParameter is on (S8)", () =>
    Effect.gen(function*() {
      const lax = yield* recordingOAuthClient(undefined, { issuer: undefined })
      const a = yield* authorizeAndCallback(lax.client, { iss: "https://other.example.com" })
      assert.strictEqual(Redacted.value(yield* lax.client.callback(a.callback, a.pending)), "code-abc")

      const strict = yield* recordingOAuthClient(undefined, { requireIssuerParameter: true })
      const b = yield* authorizeAndCallback(strict.client)
      b.callback.searchParams.delete("iss")
      const error = yield* failure(strict.client.complete(b.callback, b.pending))
      assert.instanceOf(error, OAuthError.IssuerMismatch)
      assert.strictEqual((yield* strict.requests).length, 0)
    }))

  it.effect("a repeated code or state parameter is rejected (S8)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      for (const name of ["code", "state", "iss"]) {
        const { callback, pending } = yield* authorizeAndCallback(client)
        callback.searchParams.append(name, callback.searchParams.get(name) ?? "x")
        const error = yield* failure(client.complete(callback, pending))
        assert.instanceOf(error, OAuthError.InvalidCallback)
        assert.include(error.message, name)
      }
      const { pending } = yield* authorizeAndCallback(client)
      const record = yield* failure(
        client.callback({ code: ["a", "b"], state: Redacted.value(pending.state) }, pending)
      )
      assert.instanceOf(record, OAuthError.InvalidCallback)
      assert.strictEqual((yield* requests).length, 0)
    }))

  it.effect("a pending authorization lives 10 minutes by default, then its callback is refused (S9)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const early = yield* authorizeAndCallback(client)
      const late = yield* authorizeAndCallback(client)
      yield* TestClock.adjust(Duration.minutes(10).pipe(Duration.subtract(Duration.millis(1))))
      assert.strictEqual(Redacted.value(yield* client.callback(early.callback, early.pending)), "code-abc")
      yield* TestClock.adjust(Duration.millis(1))
      const error = yield* failure(client.complete(late.callback, late.pending))
      assert.strictEqual((error as OAuthError.StateMismatch).reason, "expired")
      assert.strictEqual((yield* requests).length, 0)
      assert.strictEqual(
        DateTime.toEpochMillis(late.pending.expiresAt) - DateTime.toEpochMillis(late.pending.createdAt),
        600_000
      )
    }))

  it.effect("the pending authorization keeps state, verifier, redirect URI, issuer and times, and round-trips as JSON (S9)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient()
      const { pending } = yield* client.authorize()
      const json = yield* Schema.encode(PendingAuthorization.Json)(pending)
      const back = yield* Schema.decode(PendingAuthorization.Json)(json)
      assert.strictEqual(Redacted.value(back.state), Redacted.value(pending.state))
      assert.strictEqual(
        Redacted.value(Option.getOrThrow(back.codeVerifier)),
        Redacted.value(Option.getOrThrow(pending.codeVerifier))
      )
      assert.strictEqual(back.redirectUri, options.redirectUri)
      assert.deepStrictEqual(back.issuer, Option.some("https://auth.example.com"))
      assert.isTrue(DateTime.Equivalence(back.createdAt, pending.createdAt))
    }))

  it.effect.prop(
    "any callback input gives a code or a typed error, never a defect (S28)",
    {
      input: FastCheck.oneof(
        FastCheck.string(),
        FastCheck.webUrl({ withQueryParameters: true, withFragments: true }),
        FastCheck.dictionary(
          FastCheck.constantFrom("code", "state", "iss", "error", "error_description", "__proto__", "constructor"),
          FastCheck.oneof(FastCheck.string(), FastCheck.array(FastCheck.string(), { maxLength: 3 }))
        )
      )
    },
    ({ input }) =>
      Effect.gen(function*() {
        const { client, requests } = yield* recordingOAuthClient()
        const { pending } = yield* client.authorize()
        const exit = yield* Effect.exit(client.callback(input, pending))
        if (Exit.isFailure(exit)) {
          assert.isTrue(Option.isSome(Exit.causeOption(exit).pipe(Option.flatMap((c) => Option.some(c)))))
          const error = yield* Effect.flip(client.callback(input, pending))
          assert.include(
            ["StateMismatch", "InvalidCallback", "IssuerMismatch", "AuthorizationDenied"],
            error._tag
          )
        }
        assert.strictEqual((yield* requests).length, 0)
        assert.isUndefined(({} as Record<string, unknown>).polluted)
      })
  )

  it.effect("an oversized callback is refused without reading it all (S28)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient()
      const { pending } = yield* client.authorize()
      const error = yield* failure(client.callback(`https://app.example.com/cb?code=${"a".repeat(100_000)}`, pending))
      assert.instanceOf(error, OAuthError.InvalidCallback)
    }))
})

describe("OAuthClient.exchange", () => {
  it.effect("the token request is a form POST accepting JSON, with no secret in the URL (S10)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const { callback, pending } = yield* authorizeAndCallback(client)
      yield* client.complete(callback, pending)
      const [request] = yield* requests
      assert.strictEqual(request?.method, "POST")
      assert.strictEqual(request?.url, "https://auth.example.com/token")
      assert.strictEqual(request?.headers["content-type"], "application/x-www-form-urlencoded")
      assert.strictEqual(request?.headers["accept"], "application/json")
      assert.strictEqual(request?.form.get("grant_type"), "authorization_code")
      assert.strictEqual(request?.form.get("code"), "code-abc")
      assert.strictEqual(
        request?.form.get("code_verifier"),
        Redacted.value(Option.getOrThrow(pending.codeVerifier))
      )
      assert.notInclude(request?.url ?? "", "s3cr3t")
      assert.notInclude(request?.url ?? "", "code-abc")
    }))

  it.effect("redirect_uri is byte-identical in the authorization and token requests (S4)", () =>
    Effect.gen(function*() {
      const odd = "https://app.example.com/call%20back/?b=2&a=1&x=%7E"
      const { client, requests } = yield* recordingOAuthClient(undefined, { redirectUri: odd })
      const { callback, pending, url } = yield* authorizeAndCallback(client)
      yield* client.complete(callback, pending)
      const [request] = yield* requests
      assert.strictEqual(url.searchParams.get("redirect_uri"), odd)
      assert.strictEqual(request?.form.get("redirect_uri"), odd)
    }))

  const awkward = "id:with%odd+chars-é"
  const secret = "p@ss:w%rd+ü/="
  it.effect("client_secret_basic form-urlencodes id and secret before Base64 (S11)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(undefined, {
        clientId: awkward,
        clientSecret: Redacted.make(secret),
        clientAuthMethod: "client_secret_basic"
      })
      const { callback, pending } = yield* authorizeAndCallback(client)
      yield* client.complete(callback, pending)
      const [request] = yield* requests
      const header = request?.headers["authorization"] ?? ""
      assert.match(header, /^Basic [A-Za-z0-9+/=]+$/)
      const decoded = Buffer.from(header.slice(6), "base64").toString("utf8")
      assert.notInclude(decoded, "é")
      const [id, pass] = decoded.split(":").map((part) => decodeURIComponent(part.replace(/\+/g, " ")))
      assert.strictEqual(id, awkward)
      assert.strictEqual(pass, secret)
      assert.isNull(request?.form.get("client_secret") ?? null)
    }))

  it.effect("client_secret_post puts id and secret in the body (S11)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(undefined, {
        clientId: awkward,
        clientSecret: Redacted.make(secret),
        clientAuthMethod: "client_secret_post"
      })
      const { callback, pending } = yield* authorizeAndCallback(client)
      yield* client.complete(callback, pending)
      const [request] = yield* requests
      assert.isUndefined(request?.headers["authorization"])
      assert.strictEqual(request?.form.get("client_id"), awkward)
      assert.strictEqual(request?.form.get("client_secret"), secret)
    }))

  it.effect("a code is sent at most once: a lost answer is not retried (S12)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(() => "transport-error")
      const { callback, pending } = yield* authorizeAndCallback(client)
      const error = yield* failure(client.complete(callback, pending))
      assert.instanceOf(error, OAuthError.HttpError)
      assert.strictEqual((error as OAuthError.HttpError).reason, "Transport")
      assert.strictEqual((yield* requests).length, 1)
    }))

  it.effect("a 5xx is not retried either (S12, S16)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(() => ({ status: 503, body: "" }))
      const { callback, pending } = yield* authorizeAndCallback(client)
      const error = yield* failure(client.complete(callback, pending))
      assert.strictEqual((error as OAuthError.HttpError).status, 503)
      assert.strictEqual((yield* requests).length, 1)
    }))

  it.effect("success needs HTTP 200, a non-empty access_token and token_type Bearer in any case (S13)", () =>
    Effect.gen(function*() {
      for (const tokenType of ["Bearer", "bearer", "BEARER"]) {
        const { client } = yield* recordingOAuthClient(() => RecordingClient.tokenJson({ token_type: tokenType }))
        const { callback, pending } = yield* authorizeAndCallback(client)
        const tokens = yield* client.complete(callback, pending)
        assert.strictEqual(tokens.tokenType, "Bearer")
        assert.strictEqual(Redacted.value(tokens.accessToken), "at-123")
      }
      const bad: Array<RecordingClient.Reply> = [
        RecordingClient.tokenJson({ token_type: "mac" }),
        RecordingClient.tokenJson({ access_token: "" }),
        RecordingClient.tokenJson({ access_token: 42 }),
        RecordingClient.tokenJson({ access_token: undefined }),
        { status: 201, body: JSON.stringify({ access_token: "leaked-201", token_type: "Bearer" }) },
        { status: 200, body: "[]" }
      ]
      for (const reply of bad) {
        const { client } = yield* recordingOAuthClient(() => reply)
        const { callback, pending } = yield* authorizeAndCallback(client)
        const error = yield* failure(client.complete(callback, pending))
        assert.include(["InvalidTokenResponse", "HttpError"], error._tag)
        for (const text of [error.message, String(error), JSON.stringify(error)]) {
          assert.notInclude(text, "leaked")
          assert.notInclude(text, "rt-123")
        }
      }
    }))

  it.effect("an invalid token response names the fields, never their values (S13, S26)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient(() =>
        RecordingClient.tokenJson({ token_type: "secret-type-xyz", refresh_token: 12345678 })
      )
      const { callback, pending } = yield* authorizeAndCallback(client)
      const error = yield* failure(client.complete(callback, pending))
      assert.instanceOf(error, OAuthError.InvalidTokenResponse)
      assert.include(error.message, "token_type")
      assert.include(error.message, "refresh_token")
      assert.notInclude(error.message, "secret-type-xyz")
      assert.notInclude(error.message, "12345678")
      assert.notInclude(error.message, "at-123")
    }))

  it.effect("expires_in is a non-negative integer or a numeric string; expiry counts from the send time (S14)", () =>
    Effect.gen(function*() {
      const cases: Array<[unknown, number | "error"]> = [
        [3600, 3600_000],
        ["120", 120_000],
        [0, 0],
        [-1, "error"],
        [1.5, "error"],
        ["12abc", "error"],
        ["", "error"],
        [null, "error"]
      ]
      for (const [expiresIn, expected] of cases) {
        const { client } = yield* recordingOAuthClient(() => RecordingClient.tokenJson({ expires_in: expiresIn }))
        const { callback, pending } = yield* authorizeAndCallback(client)
        const result = yield* Effect.either(client.complete(callback, pending))
        if (expected === "error") {
          assert.isTrue(Either.isLeft(result), `expires_in ${JSON.stringify(expiresIn)} should be rejected`)
        } else {
          const tokens = Either.getOrThrow(result)
          assert.strictEqual(
            DateTime.toEpochMillis(tokens.expiresAt) - DateTime.toEpochMillis(tokens.issuedAt),
            expected
          )
        }
      }
    }))

  it.effect("expiry is computed from the moment the request was sent, not when the answer came (S14)", () =>
    Effect.gen(function*() {
      const slow = yield* recordingOAuthClient(() => ({ ...RecordingClient.tokenJson(), delay: "20 seconds" }))
      const { callback, pending } = yield* authorizeAndCallback(slow.client)
      const sentAt = yield* DateTime.now
      const fiber = yield* Effect.fork(slow.client.complete(callback, pending))
      yield* TestClock.adjust(Duration.seconds(20))
      const tokens = yield* Fiber.join(fiber)
      assert.isTrue(DateTime.Equivalence(tokens.issuedAt, sentAt))
      assert.strictEqual(DateTime.toEpochMillis(tokens.expiresAt), DateTime.toEpochMillis(sentAt) + 3600_000)
    }))

  it.effect("a token request that outlives requestTimeout fails as Timeout, and a refresh as outcome unknown (S12, S22)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(
        () => ({ ...RecordingClient.tokenJson(), delay: "1 minute" }),
        { requestTimeout: "5 seconds" }
      )
      const { callback, pending } = yield* authorizeAndCallback(client)
      const exchange = yield* Effect.fork(Effect.flip(client.complete(callback, pending)))
      const refresh = yield* Effect.fork(Effect.flip(client.refresh(Redacted.make("rt"))))
      yield* TestClock.adjust(Duration.seconds(5))
      const exchangeError = yield* Fiber.join(exchange)
      const refreshError = yield* Fiber.join(refresh)
      assert.strictEqual((exchangeError as OAuthError.HttpError).reason, "Timeout")
      assert.instanceOf(refreshError, OAuthError.RefreshOutcomeUnknown)
      assert.strictEqual((yield* requests).length, 2)
    }))

  it.effect("without expires_in the configured default lifetime applies (S14)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient(
        () => RecordingClient.tokenJson({ expires_in: undefined }),
        { defaultAccessTokenLifetime: Duration.minutes(5) }
      )
      const { callback, pending } = yield* authorizeAndCallback(client)
      const tokens = yield* client.complete(callback, pending)
      assert.strictEqual(DateTime.toEpochMillis(tokens.expiresAt) - DateTime.toEpochMillis(tokens.issuedAt), 300_000)
    }))

  it.effect("a missing scope means the requested scope; a different scope is kept (S15)", () =>
    Effect.gen(function*() {
      const same = yield* recordingOAuthClient()
      const a = yield* authorizeAndCallback(same.client)
      assert.deepStrictEqual((yield* same.client.complete(a.callback, a.pending)).scopes, ["read", "write"])
      const narrowed = yield* recordingOAuthClient(() => RecordingClient.tokenJson({ scope: "read  extra" }))
      const b = yield* authorizeAndCallback(narrowed.client)
      assert.deepStrictEqual((yield* narrowed.client.complete(b.callback, b.pending)).scopes, ["read", "extra"])
    }))

  it.effect("unknown fields are ignored and tokens of 8 KB and more are accepted (S15)", () =>
    Effect.gen(function*() {
      const big = "x".repeat(64 * 1024)
      const { client } = yield* recordingOAuthClient(() =>
        RecordingClient.tokenJson({ access_token: big, refresh_token: big + "r", id_token: "zzz", extra: { a: 1 } })
      )
      const { callback, pending } = yield* authorizeAndCallback(client)
      const tokens = yield* client.complete(callback, pending)
      assert.strictEqual(Redacted.value(tokens.accessToken).length, 64 * 1024)
      assert.strictEqual(Redacted.value(Option.getOrThrow(tokens.refreshToken)).length, 64 * 1024 + 1)
    }))

  it.effect("a response body over 1 MiB is rejected (S15)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient(() =>
        RecordingClient.tokenJson({ padding: "p".repeat(1024 * 1024) })
      )
      const { callback, pending } = yield* authorizeAndCallback(client)
      const error = yield* failure(client.complete(callback, pending))
      assert.strictEqual((error as OAuthError.HttpError).reason, "TooLarge")
    }))

  it.effect("RFC 6749 §5.2 error bodies become ErrorResponse with error, description, uri and status (S16)", () =>
    Effect.gen(function*() {
      for (const [status, code] of [[400, "invalid_grant"], [401, "invalid_client"], [400, "unknown_thing"]] as const) {
        const { client } = yield* recordingOAuthClient(() => ({
          status,
          body: JSON.stringify({ error: code, error_description: "nope", error_uri: "https://auth.example.com/e" })
        }))
        const { callback, pending } = yield* authorizeAndCallback(client)
        const error = yield* failure(client.complete(callback, pending))
        assert.instanceOf(error, OAuthError.ErrorResponse)
        const { description, error: name, status: got, uri } = error as OAuthError.ErrorResponse
        assert.deepStrictEqual({ name, description, uri, got }, {
          name: code,
          description: "nope",
          uri: "https://auth.example.com/e",
          got: status
        })
      }
    }))

  it.effect("HTML, empty and non-JSON bodies and 5xx answers are HttpErrors, never success (S16)", () =>
    Effect.gen(function*() {
      const replies: Array<RecordingClient.Reply> = [
        { status: 200, body: "<html><body>at-123</body></html>", headers: { "content-type": "text/html" } },
        { status: 200, body: "" },
        { status: 200, body: "access_token=at-123&token_type=Bearer" },
        { status: 200, body: "\"at-123\"" },
        { status: 500, body: JSON.stringify({ error: "server_error" }) },
        { status: 502, body: "<html>bad gateway</html>" },
        { status: 400, body: "<html>bad request</html>" },
        { status: 302, body: "", headers: { location: "https://elsewhere.example.com" } }
      ]
      for (const reply of replies) {
        const { client } = yield* recordingOAuthClient(() => reply)
        const { callback, pending } = yield* authorizeAndCallback(client)
        const error = yield* failure(client.complete(callback, pending))
        assert.instanceOf(error, OAuthError.HttpError)
        assert.notInclude(error.message, "at-123")
      }
    }))
})

describe("OAuthClient.refresh", () => {
  const tokens = (fields: Partial<ConstructorParameters<typeof TokenSet.TokenSet>[0]> = {}) =>
    Effect.map(DateTime.now, (now) =>
      new TokenSet.TokenSet({
        accessToken: Redacted.make("old-at"),
        tokenType: "Bearer",
        refreshToken: Option.some(Redacted.make("old-rt")),
        expiresAt: now,
        refreshExpiresAt: Option.some(DateTime.addDuration(now, Duration.days(30))),
        issuedAt: now,
        scopes: ["read"],
        ...fields
      }))

  it.effect("a rotated refresh token replaces the old one (S17)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(
        () => RecordingClient.tokenJson({ access_token: "new-at", refresh_token: "new-rt" }),
        { refreshTokenLifetime: Duration.days(30) }
      )
      const current = yield* tokens()
      yield* TestClock.adjust(Duration.days(1))
      const next = yield* client.refresh(current)
      const [request] = yield* requests
      assert.strictEqual(request?.form.get("grant_type"), "refresh_token")
      assert.strictEqual(request?.form.get("refresh_token"), "old-rt")
      assert.strictEqual(Redacted.value(Option.getOrThrow(next.refreshToken)), "new-rt")
      assert.strictEqual(Redacted.value(next.accessToken), "new-at")
      assert.strictEqual(
        DateTime.toEpochMillis(Option.getOrThrow(next.refreshExpiresAt)),
        DateTime.toEpochMillis(next.issuedAt) + Duration.toMillis(Duration.days(30))
      )
      assert.deepStrictEqual(next.scopes, ["read"])
    }))

  it.effect("a response without a refresh token keeps the old one and its expiry (S17)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient(() =>
        RecordingClient.tokenJson({ access_token: "new-at", refresh_token: undefined })
      )
      const current = yield* tokens()
      const next = yield* client.refresh(current)
      assert.strictEqual(Redacted.value(Option.getOrThrow(next.refreshToken)), "old-rt")
      assert.deepStrictEqual(next.refreshExpiresAt, current.refreshExpiresAt)
      const bare = yield* client.refresh(Redacted.make("bare-rt"))
      assert.strictEqual(Redacted.value(Option.getOrThrow(bare.refreshToken)), "bare-rt")
    }))

  it.effect("invalid_grant on refresh is ReauthorizationRequired (S21)", () =>
    Effect.gen(function*() {
      const { client } = yield* recordingOAuthClient(() => ({
        status: 400,
        body: JSON.stringify({ error: "invalid_grant" })
      }))
      const error = yield* failure(client.refresh(yield* tokens()))
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
    }))

  it.effect("a refresh whose answer was lost fails with RefreshOutcomeUnknown and is not retried (S22)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(() => "transport-error")
      const error = yield* failure(client.refresh(yield* tokens()))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
      assert.strictEqual((yield* requests).length, 1)
    }))

  it.effect("a refresh token past its lifetime fails at once, without a request (S24)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient()
      const current = yield* tokens()
      yield* TestClock.adjust(Duration.days(30))
      const error = yield* failure(client.refresh(current))
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-expired")
      const none = yield* failure(client.refresh(yield* tokens({ refreshToken: Option.none() })))
      assert.strictEqual((none as OAuthError.ReauthorizationRequired).reason, "no-refresh-token")
      assert.strictEqual((yield* requests).length, 0)
    }))
})

describe("OAuthClient.revoke", () => {
  it.effect("revocation sends the token with token_type_hint and client auth (S30)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(() => ({ status: 200, body: "" }))
      assert.strictEqual(yield* client.revoke(Redacted.make("rt-1")), "revoked")
      const [request] = yield* requests
      assert.strictEqual(request?.url, "https://auth.example.com/revoke")
      assert.strictEqual(request?.form.get("token"), "rt-1")
      assert.strictEqual(request?.form.get("token_type_hint"), "refresh_token")
      assert.match(request?.headers["authorization"] ?? "", /^Basic /)
    }))

  it.effect("a 503 from the revocation endpoint is retried (S30)", () =>
    Effect.gen(function*() {
      let calls = 0
      const { client, requests } = yield* recordingOAuthClient(() => ++calls < 3 ? { status: 503 } : { status: 200 })
      const fiber = yield* Effect.fork(client.revoke(Redacted.make("rt-1")))
      yield* TestClock.adjust(Duration.seconds(10))
      assert.strictEqual(yield* Fiber.join(fiber), "revoked")
      assert.strictEqual((yield* requests).length, 3)
    }))

  it.effect("an OAuth error from the revocation endpoint is typed and not retried (S30)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(() => ({
        status: 400,
        body: JSON.stringify({ error: "unsupported_token_type" })
      }))
      const error = yield* failure(client.revoke(Redacted.make("rt-1")))
      assert.strictEqual((error as OAuthError.ErrorResponse).error, "unsupported_token_type")
      assert.strictEqual((yield* requests).length, 1)
    }))

  it.effect("without a revocation endpoint revoke reports unsupported and sends nothing (S30)", () =>
    Effect.gen(function*() {
      const { client, requests } = yield* recordingOAuthClient(undefined, { revocationEndpoint: undefined })
      assert.strictEqual(yield* client.revoke(Redacted.make("rt-1")), "unsupported")
      assert.strictEqual((yield* requests).length, 0)
    }))
})
