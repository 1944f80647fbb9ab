/**
 * A mock of Credal's OAuth 2.0 authorization server, on 127.0.0.1, for trying an application by hand or
 * from a browser: a login and consent page, the token and revocation endpoints (codes for 10 minutes,
 * used once; rotated refresh tokens), RFC 8414 metadata, the protected API under /api/v1, and the routes
 * the Credal SDK calls under /api/v0 (see `MockCredal.ts`).
 *
 * Environment:
 *
 * | variable | default |
 * | --- | --- |
 * | `PORT` | `4010` |
 * | `ACCESS_TOKEN_TTL`, `REFRESH_TOKEN_TTL` | 1 hour, 30 days (durations such as `30 seconds`, to watch refresh live) |
 * | `MOCK_CLIENT_ID`, `MOCK_CLIENT_SECRET` | `test-client`, `test-secret` |
 * | `MOCK_REDIRECT_URIS` | `http://127.0.0.1:3000/callback` (comma-separated) |
 *
 * Stop it with Ctrl-C.
 */
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as MockCredal from "./MockCredal.js"

const defaults = FakeAuthorizationServer.defaultClient

const settings = Config.all({
  port: Config.withDefault(Config.port("PORT"), 4010),
  accessTokenLifetime: Config.option(Config.duration("ACCESS_TOKEN_TTL")),
  refreshTokenLifetime: Config.option(Config.duration("REFRESH_TOKEN_TTL")),
  clientId: Config.withDefault(Config.nonEmptyString("MOCK_CLIENT_ID"), defaults.clientId),
  clientSecret: Config.option(Config.redacted(Config.nonEmptyString("MOCK_CLIENT_SECRET"))),
  redirectUris: Config.withDefault(
    Config.map(
      Config.nonEmptyString("MOCK_REDIRECT_URIS"),
      (value) => value.split(",").map((uri) => uri.trim()).filter((uri) => uri.length > 0)
    ),
    defaults.redirectUris
  )
})

const program = Effect.gen(function*() {
  const config = yield* settings
  const client: FakeAuthorizationServer.Client = {
    clientId: config.clientId,
    clientSecret: Option.match(config.clientSecret, {
      onNone: () => defaults.clientSecret,
      onSome: Redacted.value
    }),
    redirectUris: config.redirectUris
  }
  const serverOptions: Partial<FakeAuthorizationServer.Options> = {
    clients: [client],
    ...Option.match(config.accessTokenLifetime, {
      onNone: () => ({}),
      onSome: (ttl) => ({ accessTokenLifetime: ttl })
    }),
    ...Option.match(config.refreshTokenLifetime, {
      onNone: () => ({}),
      onSome: (ttl) => ({ refreshTokenLifetime: ttl })
    })
  }

  yield* Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const urls = server.endpoints
    const example = new URL(urls.authorization)
    example.search = new URLSearchParams({
      response_type: "code",
      client_id: client.clientId,
      redirect_uri: client.redirectUris[0] ?? "",
      scope: server.options.scopes.join(" "),
      state: "try-me"
    }).toString()
    const lines = [
      "Mock Credal authorization server (fake, for development and tests)",
      "",
      `  issuer                  ${urls.issuer}`,
      `  authorization endpoint  ${urls.authorization}`,
      `  token endpoint          ${urls.token}`,
      `  revocation endpoint     ${urls.revocation}`,
      `  API base                ${urls.apiBase}`,
      `  Credal SDK environment  ${MockCredal.sdkEnvironment(urls.issuer)} (copilots/sendMessage, createConversation)`,
      `  RFC 8414 metadata       ${urls.oauthMetadata}`,
      `  OpenID configuration    ${urls.openIdConfiguration}`,
      "",
      `  client id               ${client.clientId}`,
      `  client secret           ${
        Option.isSome(config.clientSecret)
          ? "from MOCK_CLIENT_SECRET (not shown)"
          : `${defaults.clientSecret} (default)`
      }`,
      `  redirect URIs           ${client.redirectUris.join(", ")}`,
      `  scopes                  ${server.options.scopes.join(" ")}`,
      `  access token lifetime   ${Duration.format(server.options.accessTokenLifetime)}`,
      `  refresh token lifetime  ${Duration.format(server.options.refreshTokenLifetime)} (rotated on every use)`,
      "",
      `Open ${example.href} to see the login page.`,
      "Press Ctrl-C to stop."
    ]
    yield* Console.log(lines.join("\n"))
    return yield* Effect.never
  }).pipe(Effect.provide(MockCredal.layer({ port: config.port, server: serverOptions })))
})

NodeRuntime.runMain(program)
