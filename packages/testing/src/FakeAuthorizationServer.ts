/**
 * A strict, in-memory fake OAuth 2.0 authorization server (RFC 6749, RFC 7636, RFC 7009, RFC 9207),
 * shaped like Credal API v1 by default, that runs as an `HttpClient` (no sockets).
 *
 * Every rule a provider may enforce is enforced here, strictly, on Effect's `Clock` (so `TestClock`
 * drives every expiry), with a request log, counters and fault injection.
 *
 * Its models have modules of their own: `FakeAuthorizationServerFault` (what `inject` takes),
 * `FakeAuthorizationServerLog` (`requests`, `counters`), `FakeAuthorizationServerGrant` (`grants`,
 * `issueGrant`, `prompt`) and `FakeAuthorizationServerMetadata` (`endpoints`, the metadata document).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FakeAuthorizationServerFault from "./FakeAuthorizationServerFault.js"
import type * as FakeAuthorizationServerGrant from "./FakeAuthorizationServerGrant.js"
import type * as FakeAuthorizationServerLog from "./FakeAuthorizationServerLog.js"
import * as FakeAuthorizationServerMetadata from "./FakeAuthorizationServerMetadata.js"
import * as internal from "./internal/fakeAuthorizationServer.js"
import * as errors from "./internal/fakeServer/errors.js"
import * as internalOptions from "./internal/fakeServer/options.js"
import * as server from "./internal/fakeServer/server.js"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Client authentication methods of RFC 6749 §2.3.1.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * // A client that may only authenticate in the request body.
 * const method: FakeAuthorizationServer.ClientAuthMethod = "client_secret_post"
 * const client: FakeAuthorizationServer.Client = { ...FakeAuthorizationServer.defaultClient, authMethods: [method] }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post"

/**
 * A registered confidential client.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const webApp: FakeAuthorizationServer.Client = {
 *   clientId: "web-app",
 *   clientSecret: "web-secret",
 *   redirectUris: ["https://app.example.com/callback"]
 * }
 * const ServerLive = FakeAuthorizationServer.layer({ clients: [webApp, FakeAuthorizationServer.defaultClient] })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Client {
  readonly clientId: string
  readonly clientSecret: string
  /** Compared byte for byte with the `redirect_uri` of authorization and token requests. */
  readonly redirectUris: ReadonlyArray<string>
  /** Allowed client authentication methods; both when absent. */
  readonly authMethods?: ReadonlyArray<ClientAuthMethod> | undefined
}

/**
 * Configuration of the fake server. Every field has a Credal-shaped default (see `defaultOptions`).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * // A generic provider rather than Credal's shape: its own issuer, PKCE required, no refresh-token rotation.
 * const options: Partial<FakeAuthorizationServer.Options> = {
 *   issuer: "https://auth.example.com",
 *   authorizationPath: "/authorize",
 *   tokenPath: "/token",
 *   requirePkce: true,
 *   rotateRefreshTokens: false,
 *   scopes: ["openid", "read"]
 * }
 * const ServerLive = FakeAuthorizationServer.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Issuer and base URL of every endpoint, without a trailing slash. */
  readonly issuer: string
  readonly authorizationPath: string
  readonly tokenPath: string
  readonly revocationPath: string
  /** Base path of the protected API (`/whoami`, `/agents/sendMessage`, `/agents/fetchAgentResponse`). */
  readonly apiBasePath: string
  readonly clients: ReadonlyArray<Client>
  readonly codeLifetime: Duration.DurationInput
  /** `expires_in` of token responses; an infinite lifetime omits `expires_in`. */
  readonly accessTokenLifetime: Duration.DurationInput
  /** Counted from the issue of each refresh token (a rotated-in token gets a full lifetime). */
  readonly refreshTokenLifetime: Duration.DurationInput
  /** When `true` every refresh returns a new `refresh_token` and the presented one dies at once; when `false` refresh responses carry no `refresh_token` and the old one stays valid. */
  readonly rotateRefreshTokens: boolean
  /** When `true`, presenting an already rotated refresh token revokes the whole grant (all its tokens). */
  readonly reuseRevokesFamily: boolean
  /** When greater than zero, a rotated refresh token presented again within this window gets the tokens issued for it again. */
  readonly refreshGraceWindow: Duration.DurationInput
  /** When `true`, authorization requests without an S256 `code_challenge` are rejected. */
  readonly requirePkce: boolean
  /** Supported scopes; an authorization request without `scope` is granted all of them. */
  readonly scopes: ReadonlyArray<string>
  readonly includeScopeInResponse: boolean
  /** Adds `iss` (RFC 9207) to authorization responses. */
  readonly includeIssInCallback: boolean
  /** Length in characters of generated tokens; `undefined` means a prefix plus 32 random bytes in base64url. */
  readonly tokenBytes: number | undefined
  /** Extra fields merged into every successful token response (may override `scope`, add unknown fields…). */
  readonly tokenResponseExtras: Readonly<Record<string, unknown>>
  /** The user `approve` signs in when none is given. */
  readonly defaultUser: string
  /** Realm of `WWW-Authenticate` challenges. */
  readonly realm: string
  /**
   * RFC 8252 §7.3: a registered loopback redirect URI (`http://127.0.0.1/…` or `http://[::1]/…`)
   * matches the same URI on any port, as native-app clients need. Default: off (exact match).
   */
  readonly loopbackAnyPort?: boolean | undefined
  /** Which metadata documents are served (RFC 8414, OpenID Connect Discovery); default `"both"`. */
  readonly metadata?: FakeAuthorizationServerMetadata.MetadataMode | undefined
  /** The `issuer` the metadata documents claim; default `issuer`. Another value tests SPEC S31. */
  readonly metadataIssuer?: string | undefined
}

/**
 * The default client: `test-client` / `test-secret`, redirect `http://127.0.0.1:3000/callback`, both
 * authentication methods.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * assert.strictEqual(FakeAuthorizationServer.defaultClient.clientId, "test-client")
 * assert.deepStrictEqual(FakeAuthorizationServer.defaultClient.redirectUris, ["http://127.0.0.1:3000/callback"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultClient: Client = internalOptions.defaultClient

/**
 * Credal API v1-shaped defaults.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * assert.strictEqual(FakeAuthorizationServer.defaultOptions.issuer, "https://app.credal.ai")
 * assert.strictEqual(FakeAuthorizationServer.defaultOptions.rotateRefreshTokens, true)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultOptions: Options = internalOptions.defaultOptions

/**
 * Fills the missing options with `defaultOptions`.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const options = FakeAuthorizationServer.makeOptions({ requirePkce: true })
 * assert.strictEqual(options.requirePkce, true)
 * assert.strictEqual(options.tokenPath, "/api/oauth/token") // the rest are the defaults
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeOptions = (options?: Partial<Options>): Options => ({ ...defaultOptions, ...options })

/**
 * The faults of `FakeAuthorizationServerFault`, here too because nearly every test names them:
 * `FakeAuthorizationServer.Fault` is `FakeAuthorizationServerFault.Fault` (the type and its constructors).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const fault: FakeAuthorizationServer.Fault = FakeAuthorizationServer.Fault.Status({ endpoint: "token", status: 503 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = FakeAuthorizationServerFault.Fault

/**
 * Constructors of `Fault` (`FakeAuthorizationServerFault.Fault`).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerFault } from "@effect-oauth/testing"
 *
 * assert.strictEqual(FakeAuthorizationServer.Fault, FakeAuthorizationServerFault.Fault)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const Fault: typeof FakeAuthorizationServerFault.Fault = FakeAuthorizationServerFault.Fault

// -----------------------------------------------------------------------------
// errors
// -----------------------------------------------------------------------------

/**
 * An authorization request the server refuses to redirect back for (RFC 6749 §4.1.2.1): unknown or
 * missing `client_id`, unregistered `redirect_uri`, a repeated `client_id` / `redirect_uri`, a URL that is
 * not the authorization endpoint, or an unparsable URL.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // An authorization URL of an unknown client is refused without a redirect.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const url = `${server.endpoints.authorization}?response_type=code&client_id=nobody&state=s`
 *   return yield* Effect.flip(server.approve(url))
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * const error = await Effect.runPromise(program)
 * assert.ok(error instanceof FakeAuthorizationServer.FakeAuthorizationError)
 * assert.strictEqual(error.reason, "InvalidClient")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const FakeAuthorizationError: typeof errors.FakeAuthorizationError = errors.FakeAuthorizationError

/**
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const describe = (error: FakeAuthorizationServer.FakeAuthorizationError): string => error.reason
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type FakeAuthorizationError = errors.FakeAuthorizationError

// -----------------------------------------------------------------------------
// tags
// -----------------------------------------------------------------------------

/**
 * The fake authorization server.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   return server.endpoints.token
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer({ issuer: "https://auth.example.com" })))
 * assert.strictEqual(await Effect.runPromise(program), "https://auth.example.com/api/oauth/token")
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class FakeAuthorizationServer extends Context.Tag("@effect-oauth/testing/FakeAuthorizationServer")<
  FakeAuthorizationServer,
  FakeAuthorizationServer.Service
>() {}

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace FakeAuthorizationServer {
  /**
   * @example
   * ```ts
   * import { OAuthClient } from "@effect-oauth/core"
   * import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
   * import { Effect } from "effect"
   *
   * // A whole sign-in: the client's authorization URL, the user's approval, the code exchange.
   * const program = Effect.gen(function*() {
   *   const oauth = yield* OAuthClient.OAuthClient
   *   const server: FakeAuthorizationServer.FakeAuthorizationServer.Service =
   *     yield* FakeAuthorizationServer.FakeAuthorizationServer
   *   const { pending, url } = yield* oauth.authorize()
   *   const callback = yield* server.approve(url)
   *   yield* oauth.complete(callback, pending)
   *   return (yield* server.counters).authorizationCode
   * }).pipe(Effect.provide(OAuthTest.layer()))
   * assert.strictEqual(await Effect.runPromise(program), 1)
   * ```
   *
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly options: Options
    readonly endpoints: FakeAuthorizationServerMetadata.Endpoints
    /** Answers one HTTP request (token, revocation, API, or 404); under `StalledHeaders`, never. */
    readonly handle: (
      request: HttpClientRequest.HttpClientRequest
    ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>
    /**
     * Answers one HTTP request as an adapter to real HTTP needs it: a response, or the status and headers
     * to start writing and never finish (`StalledHeaders`).
     */
    readonly answer: (
      request: HttpClientRequest.HttpClientRequest
    ) => Effect.Effect<FakeAuthorizationServerFault.Answer, HttpClientError.HttpClientError>
    /** An `HttpClient` whose every request goes to `handle`. */
    readonly httpClient: HttpClient.HttpClient
    /** The user approves the authorization request: returns the callback URL with `code`, `state`, `iss`. */
    readonly approve: (
      authorizationUrl: string | URL,
      options?: { readonly user?: string | undefined }
    ) => Effect.Effect<URL, FakeAuthorizationError>
    /** The user denies: returns the callback URL with `error`, `error_description`, `state`, `iss`. */
    readonly deny: (
      authorizationUrl: string | URL,
      error?: string,
      description?: string
    ) => Effect.Effect<URL, FakeAuthorizationError>
    /**
     * Checks an authorization request exactly as `approve` does, before any decision: fails like `approve`
     * for a bad client or redirect URI, returns the error redirect `approve` would return for any other
     * invalid parameter (both logged), or the consent to ask for (not logged, nothing issued).
     */
    readonly prompt: (
      authorizationUrl: string | URL
    ) => Effect.Effect<FakeAuthorizationServerGrant.AuthorizationPrompt, FakeAuthorizationError>
    /** Issues a grant without the authorization flow (to seed a store). */
    readonly issueGrant: (options?: {
      readonly clientId?: string | undefined
      readonly user?: string | undefined
      readonly scope?: ReadonlyArray<string> | undefined
    }) => Effect.Effect<FakeAuthorizationServerGrant.IssuedGrant, FakeAuthorizationError>
    readonly inject: (fault: Fault) => Effect.Effect<void>
    readonly pendingFaults: Effect.Effect<ReadonlyArray<Fault>>
    readonly clearFaults: Effect.Effect<void>
    readonly requests: Effect.Effect<ReadonlyArray<FakeAuthorizationServerLog.LoggedRequest>>
    readonly counters: Effect.Effect<FakeAuthorizationServerLog.Counters>
    /** Clears the request log (and therefore the counters). */
    readonly clearLog: Effect.Effect<void>
    /** Forgets every code, grant and token, clears the log and the pending faults. */
    readonly reset: Effect.Effect<void>
    readonly isAccessTokenValid: (token: string) => Effect.Effect<boolean>
    readonly isRefreshTokenValid: (token: string) => Effect.Effect<boolean>
    readonly grants: Effect.Effect<ReadonlyArray<FakeAuthorizationServerGrant.Grant>>
    /** Revokes every grant (of `user`, when given). */
    readonly revokeAll: (user?: string) => Effect.Effect<void>
  }
}

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Builds a fake server with fresh state: the options are completed with `defaultOptions`.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // Two servers with separate state in one test.
 * const program = Effect.gen(function*() {
 *   const a = yield* FakeAuthorizationServer.make({ issuer: "https://a.example" })
 *   const b = yield* FakeAuthorizationServer.make({ issuer: "https://b.example" })
 *   yield* a.issueGrant()
 *   return [(yield* a.grants).length, (yield* b.grants).length]
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), [1, 0])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Partial<Options>): Effect.Effect<FakeAuthorizationServer.Service> => {
  const opts = makeOptions(options)
  return server.make(
    opts,
    FakeAuthorizationServerMetadata.endpoints(opts),
    JSON.stringify(FakeAuthorizationServerMetadata.metadataDocument(opts))
  )
}

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * The fake server with fresh state.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) => server.issueGrant()).pipe(
 *   Effect.provide(FakeAuthorizationServer.layer({ accessTokenLifetime: "5 minutes" }))
 * )
 * assert.strictEqual((await Effect.runPromise(program)).expiresIn, 300)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Partial<Options>): Layer.Layer<FakeAuthorizationServer> =>
  Layer.effect(FakeAuthorizationServer, make(options))

/**
 * An `HttpClient` that sends every request to the fake server in context (no sockets).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Layer } from "effect"
 *
 * // What `layerWithHttpClient` does.
 * const TestLive = FakeAuthorizationServer.layerHttpClient.pipe(Layer.provideMerge(FakeAuthorizationServer.layer()))
 * const program = Effect.flatMap(HttpClient.HttpClient, (http) => http.get("https://app.credal.ai/nowhere"))
 * assert.strictEqual((await Effect.runPromise(Effect.provide(program, TestLive))).status, 404)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient, never, FakeAuthorizationServer> = Layer.effect(
  HttpClient.HttpClient,
  Effect.map(FakeAuthorizationServer, (server) => server.httpClient)
)

/**
 * The fake server and an `HttpClient` routed to it.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const http = yield* HttpClient.HttpClient
 *   const response = yield* http.get(server.endpoints.oauthMetadata)
 *   return response.status
 * }).pipe(Effect.provide(FakeAuthorizationServer.layerWithHttpClient()))
 * assert.strictEqual(await Effect.runPromise(program), 200)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithHttpClient = (
  options?: Partial<Options>
): Layer.Layer<FakeAuthorizationServer | HttpClient.HttpClient> => Layer.provideMerge(layerHttpClient, layer(options))

/**
 * Form-urlencodes a client id or secret for `client_secret_basic` (RFC 6749 §2.3.1) and returns the
 * `Authorization` header value. Useful for raw requests in tests.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * assert.strictEqual(
 *   FakeAuthorizationServer.basicAuthorization("test-client", "test-secret"),
 *   "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="
 * )
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const basicAuthorization: (clientId: string, clientSecret: string) => string = internal.encodeBasicCredentials

/**
 * The RFC 7636 S256 code challenge of a verifier.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * // The example of RFC 7636 Appendix B.
 * assert.strictEqual(
 *   FakeAuthorizationServer.s256Challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
 *   "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
 * )
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const s256Challenge = (verifier: string): string => internal.s256(verifier)
