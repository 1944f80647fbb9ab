/**
 * A terminal walkthrough of @effect-oauth against the embedded fake authorization server (no network):
 * configuration, authorization URL, approval, code exchange, an API call, a refresh with a rotated
 * refresh token an hour later, and the replay of the old refresh token. Every step checks what it
 * prints, so `pnpm demo` is also a smoke test: it exits with code 1 when a claim does not hold.
 */
import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
import { FakeAuthorizationServer, FakeAuthorizationServerMetadata } from "@effect-oauth/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { makeTimeTravelClock } from "./clock.js"
import { bold, check, dim, green, red, redact, showUrl, step, WalkthroughCheckFailed } from "./display.js"

const fake = FakeAuthorizationServerMetadata.endpoints(FakeAuthorizationServer.defaultOptions)
const client = FakeAuthorizationServer.defaultClient

const config = OAuthConfig.credal({
  clientId: client.clientId,
  clientSecret: Redacted.make(client.clientSecret),
  redirectUri: client.redirectUris[0] ?? "http://127.0.0.1:3000/callback",
  authorizationEndpoint: fake.authorization,
  tokenEndpoint: fake.token,
  issuer: fake.issuer,
  refreshTokenLifetime: Duration.days(30)
})

const AppLayer = Layer.provideMerge(
  OAuthClient.layerWithConfig(config),
  FakeAuthorizationServer.layerWithHttpClient()
)

const time = makeTimeTravelClock()

const iso = (instant: DateTime.Utc) => DateTime.formatIso(instant)
const sameMillis = (from: DateTime.Utc, to: DateTime.Utc, duration: Duration.Duration) =>
  DateTime.toEpochMillis(to) - DateTime.toEpochMillis(from) === Duration.toMillis(duration)

const program = Effect.gen(function*() {
  const oauth = yield* OAuthClient.OAuthClient
  const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
  const http = yield* HttpClient.HttpClient

  /** One request to the protected API with a Bearer token: the status and the JSON body. */
  const api = (request: HttpClientRequest.HttpClientRequest, token: Redacted.Redacted<string>) =>
    http.execute(HttpClientRequest.bearerToken(request, token)).pipe(
      Effect.flatMap((response) => Effect.map(response.json, (body) => ({ status: response.status, body })))
    )
  const whoami = (token: Redacted.Redacted<string>) => api(HttpClientRequest.get(`${fake.apiBase}/whoami`), token)

  // 1. Configuration -----------------------------------------------------------
  const resolved = oauth.config
  yield* check(Option.contains(resolved.issuer, fake.issuer), "the client's issuer is not the fake server's")
  yield* check(resolved.pkce && resolved.clientAuthMethod === "client_secret_post", "the Credal preset is not applied")
  yield* step(1, "Configuration — OAuthConfig.credal({...}) pointed at the in-memory fake server", [
    `client      ${resolved.clientId} ${dim("(secret: Redacted)")} · auth ${resolved.clientAuthMethod} · PKCE S256 on`,
    `authorize   ${resolved.authorizationEndpoint.href}`,
    `token       ${resolved.tokenEndpoint.href} ${dim(`(issuer ${fake.issuer}, served in memory)`)}`,
    `scope       ${resolved.scopes.join(" ")} · refresh token lifetime 30 days`
  ])

  // 2. Authorization URL --------------------------------------------------------
  const { pending, url } = yield* oauth.authorize()
  const state = url.searchParams.get("state") ?? ""
  yield* check(state === Redacted.value(pending.state), "the URL's state is not the pending authorization's")
  yield* check(url.searchParams.get("code_challenge_method") === "S256", "the URL has no S256 code_challenge")
  yield* step(2, "Authorization URL — client.authorize()", [
    showUrl(url, ["state", "code_challenge"]),
    `kept until the callback: PendingAuthorization (state ${redact(state)}, PKCE verifier, redirect URI)`
  ])

  // 3. Simulated approval -------------------------------------------------------
  const callbackUrl = yield* server.approve(url)
  yield* check(callbackUrl.searchParams.get("state") === state, "the callback does not carry the state back")
  yield* check(callbackUrl.searchParams.has("code"), "the callback carries no code")
  yield* step(3, "Simulated approval — server.approve(url): the user signs in and consents", [
    `redirected to ${showUrl(callbackUrl, ["code", "state"])}`
  ])

  // 4. Callback + exchange ------------------------------------------------------
  const tokens = yield* oauth.complete(callbackUrl, pending)
  const refreshExpiresAt = yield* Option.match(tokens.refreshExpiresAt, {
    onNone: () => new WalkthroughCheckFailed({ message: "the token set has no refresh token expiry" }),
    onSome: Effect.succeed
  })
  const oldRefresh = Option.getOrElse(Option.map(tokens.refreshToken, Redacted.value), () => "")
  yield* check(oldRefresh !== "", "the token response has no refresh token")
  yield* check(sameMillis(tokens.issuedAt, tokens.expiresAt, Duration.hours(1)), "the access token does not last 1h")
  yield* check(sameMillis(tokens.issuedAt, refreshExpiresAt, Duration.days(30)), "the refresh token does not last 30d")
  yield* step(4, "Callback + code exchange — client.complete(callbackUrl, pending)", [
    `access token   ${redact(tokens.accessToken)}  expires ${iso(tokens.expiresAt)} (1 hour)`,
    `refresh token  ${redact(oldRefresh)}  expires ${iso(refreshExpiresAt)} (30 days)`,
    `scopes         ${tokens.scopes.join(" ")}`
  ])

  // 5. API calls -----------------------------------------------------------------
  const me = yield* whoami(tokens.accessToken)
  const sent = yield* HttpClientRequest.post(`${fake.apiBase}/agents/sendMessage`).pipe(
    HttpClientRequest.bodyUnsafeJson({ message: "Hello, Credal" }),
    HttpClientRequest.bearerToken(tokens.accessToken),
    http.execute,
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Schema.Struct({ jobId: Schema.String })))
  )
  yield* check(me.status === 200, `GET /whoami answered ${me.status}, expected 200`)
  yield* step(5, "API calls with the Bearer token (through the fake's HttpClient)", [
    `GET  ${fake.apiBase}/whoami → ${me.status} ${JSON.stringify(me.body)}`,
    `POST ${fake.apiBase}/agents/sendMessage → jobId ${sent.jobId}`
  ])

  // 6. One hour later -------------------------------------------------------------
  yield* time.advance(Duration.hours(1))
  const now = yield* DateTime.now
  yield* check(tokens.needsRefresh(now), "the client does not see the access token as expired")
  const expired = yield* whoami(tokens.accessToken)
  yield* check(expired.status === 401, `GET /whoami with the expired token answered ${expired.status}, expected 401`)
  const refreshed = yield* oauth.refresh(tokens)
  const newRefresh = Option.getOrElse(Option.map(refreshed.refreshToken, Redacted.value), () => "")
  yield* check(newRefresh !== "" && newRefresh !== oldRefresh, "the refresh token was not rotated")
  yield* check(
    Redacted.value(refreshed.accessToken) !== Redacted.value(tokens.accessToken),
    "the refresh returned the same access token"
  )
  const again = yield* whoami(refreshed.accessToken)
  yield* check(again.status === 200, `GET /whoami with the new token answered ${again.status}, expected 200`)
  yield* step(6, `One hour later — clock advanced to ${iso(now)} (a custom Clock via Effect.withClock)`, [
    `GET /whoami with the old access token → ${expired.status} ${JSON.stringify(expired.body)}`,
    `client.refresh(tokens) → new access token ${redact(refreshed.accessToken)}, GET /whoami → ${again.status}`,
    `refresh token rotated: ${redact(oldRefresh)} → ${redact(newRefresh)} ${green("(the old one is now spent)")}`
  ])

  // 7. Replay of the old refresh token ------------------------------------------------
  const replay = yield* Effect.either(oauth.refresh(tokens))
  if (Either.isRight(replay)) {
    return yield* new WalkthroughCheckFailed({ message: "the replayed refresh token was accepted" })
  }
  const error = replay.left
  if (error._tag !== "ReauthorizationRequired" || error.reason !== "refresh-token-rejected") {
    return yield* new WalkthroughCheckFailed({
      message: `the replay failed with ${error._tag} (${error.message}), expected ReauthorizationRequired`
    })
  }
  const accessStillValid = yield* server.isAccessTokenValid(Redacted.value(refreshed.accessToken))
  const refreshStillValid = yield* server.isRefreshTokenValid(newRefresh)
  yield* check(!accessStillValid && !refreshStillValid, "the server did not revoke the grant after the replay")
  yield* step(7, "Replay of the old refresh token — client.refresh(oldTokens)", [
    `fails with ${bold(error._tag)} (reason ${error.reason})`,
    `message: ${error.message}`,
    `the server saw a rotated token reused and revoked the whole grant (server.isAccessTokenValid):`,
    `new access token ${redact(refreshed.accessToken)} valid: ${accessStillValid} · ` +
    `new refresh token ${redact(newRefresh)} valid: ${refreshStillValid}`
  ])

  // 8. Summary ---------------------------------------------------------------------------
  const counters = yield* server.counters
  yield* check(
    counters.authorizationCode === 1,
    `expected 1 authorization_code request, saw ${counters.authorizationCode}`
  )
  yield* check(counters.refreshToken === 2, `expected 2 refresh_token requests, saw ${counters.refreshToken}`)
  yield* check(
    counters.reusedRefreshTokens === 1,
    `expected 1 reused refresh token, saw ${counters.reusedRefreshTokens}`
  )
  yield* step(8, "Summary — the fake server's counters", [
    `authorizations ${counters.authorize} · token requests ${counters.token} (authorization_code ${counters.authorizationCode}, refresh_token ${counters.refreshToken})`,
    `API calls ${counters.api} · revocations ${counters.revoke} · reused refresh tokens ${counters.reusedRefreshTokens}`
  ])
  yield* Console.log(`\n${green("✓ walkthrough complete: every step checked")}`)
})

const main = program.pipe(
  Effect.provide(AppLayer),
  Effect.withClock(time.clock),
  Effect.tapErrorCause((cause) =>
    Console.error(
      `\n${red("✗ walkthrough failed:")} ${
        Option.match(Cause.failureOption(cause), {
          onNone: () => Cause.pretty(cause),
          onSome: (error) => `${error._tag}: ${error.message}`
        })
      }`
    )
  )
)

Effect.runPromiseExit(main).then((exit) => {
  process.exitCode = Exit.isSuccess(exit) ? 0 : 1
})
