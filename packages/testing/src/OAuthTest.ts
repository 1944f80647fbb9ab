/**
 * Ready-made test layers: an `OAuthClient` configured against the fake authorization server, and a
 * `signIn` that runs the whole authorization code flow in one step.
 *
 * @since 0.1.0
 */
import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
import type { TokenSet } from "@effect-oauth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"
import * as FakeAuthorizationServerMetadata from "./FakeAuthorizationServerMetadata.js"

/**
 * @example
 * ```ts
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Duration } from "effect"
 *
 * // A fake whose access tokens live 5 minutes, and a client that refreshes 30 seconds before expiry.
 * const options: OAuthTest.Options = {
 *   server: { accessTokenLifetime: Duration.minutes(5) },
 *   client: { refreshWindow: Duration.seconds(30) }
 * }
 * const TestLive = OAuthTest.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Options of the fake server. */
  readonly server?: Partial<FakeAuthorizationServer.Options> | undefined
  /** Overrides of the client configuration (Credal preset pointed at the fake by default). */
  readonly client?: Partial<OAuthConfig.Options> | undefined
}

/**
 * The client options that match a fake server: its first registered client, its endpoints and
 * issuer, the Credal preset's lifetimes and auth method.
 *
 * @example
 * ```ts
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Redacted } from "effect"
 *
 * const options = OAuthTest.clientOptions({}, { clientAuthMethod: "client_secret_basic" })
 * assert.strictEqual(options.clientAuthMethod, "client_secret_basic")
 * assert.ok(Redacted.value(options.clientSecret).length > 0)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const clientOptions = (
  server: Partial<FakeAuthorizationServer.Options> = {},
  overrides: Partial<OAuthConfig.Options> = {}
): OAuthConfig.Options => {
  const options = FakeAuthorizationServer.makeOptions(server)
  const urls = FakeAuthorizationServerMetadata.endpoints(options)
  const client = options.clients[0] ?? FakeAuthorizationServer.defaultClient
  const preset = OAuthConfig.credal({
    clientId: client.clientId,
    clientSecret: Redacted.make(client.clientSecret),
    redirectUri: client.redirectUris[0] ?? "http://127.0.0.1:3000/callback",
    authorizationEndpoint: urls.authorization,
    tokenEndpoint: urls.token,
    revocationEndpoint: urls.revocation,
    issuer: urls.issuer,
    scopes: options.scopes,
    defaultAccessTokenLifetime: options.accessTokenLifetime,
    refreshTokenLifetime: options.refreshTokenLifetime
  })
  return { ...preset, ...overrides }
}

/**
 * The fake server, an `HttpClient` routed to it, and an `OAuthClient` with its configuration.
 *
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const oauth = yield* OAuthClient.OAuthClient
 *   const { url } = yield* oauth.authorize()
 *   return url.searchParams.get("code_challenge_method")
 * })
 * assert.strictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), "S256")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  | FakeAuthorizationServer.FakeAuthorizationServer
  | HttpClient.HttpClient
  | OAuthClient.OAuthClient
  | OAuthConfig.OAuthConfig,
  OAuthConfig.InvalidConfig
> =>
  OAuthClient.layerWithConfig(clientOptions(options.server, options.client)).pipe(
    Layer.provideMerge(FakeAuthorizationServer.layerWithHttpClient(options.server))
  )

/**
 * Runs the whole authorization code flow: authorize, the user approves at the fake server, the
 * callback is checked and the code exchanged.
 *
 * @example
 * ```ts
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* OAuthTest.signIn("ann")
 *   return Option.isSome(tokens.refreshToken)
 * })
 * assert.strictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), true)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const signIn = (
  user?: string
): Effect.Effect<
  TokenSet.TokenSet,
  FakeAuthorizationServer.FakeAuthorizationError | OAuthClient.CallbackError | OAuthClient.ExchangeError,
  OAuthClient.OAuthClient | FakeAuthorizationServer.FakeAuthorizationServer
> =>
  Effect.gen(function*() {
    const client = yield* OAuthClient.OAuthClient
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const { pending, url } = yield* client.authorize()
    const callback = yield* server.approve(url, { user })
    return yield* client.complete(callback, pending)
  })

/**
 * Calls the fake's protected `GET /whoami` with an access token; returns the HTTP status.
 *
 * @example
 * ```ts
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* OAuthTest.signIn("ann")
 *   const valid = yield* OAuthTest.whoami(tokens.accessToken)
 *   const forged = yield* OAuthTest.whoami(Redacted.make("not-a-token"))
 *   return [valid, forged]
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), [200, 401])
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const whoami = (
  accessToken: Redacted.Redacted<string>
): Effect.Effect<number, never, FakeAuthorizationServer.FakeAuthorizationServer> =>
  Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const response = yield* server.httpClient.execute(
      HttpClientRequest.get(`${server.endpoints.apiBase}/whoami`).pipe(HttpClientRequest.bearerToken(accessToken))
    ).pipe(Effect.orDie)
    return response.status
  })
