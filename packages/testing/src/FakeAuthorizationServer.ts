/**
 * A strict, in-memory fake OAuth 2.0 authorization server (RFC 6749, RFC 7636, RFC 7009, RFC 9207),
 * shaped like Credal API v1 by default, that runs as an `HttpClient` (no sockets).
 *
 * Every rule a provider may enforce is enforced here, strictly, on Effect's `Clock` (so `TestClock`
 * drives every expiry), with a request log, counters and fault injection.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
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
 * Which authorization server metadata documents the fake serves: RFC 8414's
 * `/.well-known/oauth-authorization-server`, OpenID Connect Discovery's `/.well-known/openid-configuration`,
 * both, or none.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * // A provider that publishes only RFC 8414 metadata, to test a client's discovery fallback.
 * const metadata: FakeAuthorizationServer.MetadataMode = "oauth"
 * const options = FakeAuthorizationServer.makeOptions({ metadata })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type MetadataMode = "oauth" | "openid" | "both" | "none"

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
  readonly metadata?: MetadataMode | undefined
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
 * Absolute URLs of the fake server's endpoints.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const urls: FakeAuthorizationServer.Endpoints = FakeAuthorizationServer.endpoints(
 *   FakeAuthorizationServer.makeOptions({ issuer: "https://auth.example.com/tenant" })
 * )
 * assert.strictEqual(urls.oauthMetadata, "https://auth.example.com/.well-known/oauth-authorization-server/tenant")
 * assert.strictEqual(urls.openIdConfiguration, "https://auth.example.com/tenant/.well-known/openid-configuration")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoints {
  readonly issuer: string
  readonly authorization: string
  readonly token: string
  readonly revocation: string
  readonly apiBase: string
  /** Where RFC 8414 metadata lives: the well-known segment goes between the host and the issuer's path (§3.1). */
  readonly oauthMetadata: string
  /** Where OpenID Connect Discovery metadata lives: appended to the issuer. */
  readonly openIdConfiguration: string
}

/**
 * Computes the endpoints of a configuration (`issuer` + path).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const urls = FakeAuthorizationServer.endpoints(FakeAuthorizationServer.defaultOptions)
 * assert.strictEqual(urls.token, "https://app.credal.ai/api/oauth/token")
 * assert.strictEqual(urls.apiBase, "https://app.credal.ai/api/v1")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const endpoints: (options: Options) => Endpoints = internalOptions.endpoints

/**
 * The authorization server metadata document the fake serves (RFC 8414 §2, with RFC 9207's
 * `authorization_response_iss_parameter_supported` following `includeIssInCallback`).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const document = FakeAuthorizationServer.metadataDocument(FakeAuthorizationServer.defaultOptions)
 * assert.strictEqual(document.issuer, "https://app.credal.ai")
 * assert.strictEqual(document.token_endpoint, "https://app.credal.ai/api/oauth/token")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const metadataDocument: (options: Options) => Readonly<Record<string, unknown>> =
  internalOptions.metadataDocument

/**
 * Which endpoint a request hit. `authorize` entries come from `approve` / `deny` (and from `prompt` when it
 * refuses or redirects with an error); `metadata` is either well-known metadata document.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // How many requests reached one endpoint.
 * const hits = (endpoint: FakeAuthorizationServer.Endpoint) =>
 *   Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) => server.requests).pipe(
 *     Effect.map((requests) => requests.filter((request) => request.endpoint === endpoint).length)
 *   )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = "authorize" | "token" | "revoke" | "api" | "metadata" | "other"

/**
 * One request seen by the fake server. Values are raw (this is a test tool): form parameters and headers
 * carry secrets and tokens as sent.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The client authentication of every token request, to check that the secret went in the header.
 * const authMethods = Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) => server.requests).pipe(
 *   Effect.map((requests: ReadonlyArray<FakeAuthorizationServer.LoggedRequest>) =>
 *     requests.filter((request) => request.endpoint === "token").map((request) => request.clientAuth)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LoggedRequest {
  /** Clock time (ms) at which the request arrived (before any injected delay). */
  readonly at: number
  readonly endpoint: Endpoint
  readonly method: string
  readonly url: string
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  /** Form parameters (last value when repeated); query parameters for `authorize` entries. */
  readonly form: Readonly<Record<string, string>>
  readonly grantType?: string | undefined
  /** HTTP status produced; 302 for `approve`/`deny` redirects, 0 when a `TransportError` fault dropped it. */
  readonly status: number
  /** The OAuth error code (or the `FakeAuthorizationError` reason for refused authorization requests). */
  readonly error?: string | undefined
  readonly clientId?: string | undefined
  readonly clientAuth?: ClientAuthMethod | undefined
  readonly refreshTokenPresented?: string | undefined
  /** The refresh token presented had already been rotated (also `true` for grace-window replays). */
  readonly reusedRefreshToken: boolean
  /** A rotated refresh token was answered with its successor tokens thanks to the grace window. */
  readonly graceReplay: boolean
  /** The fault applied to this request, if any (a `Delay` is reported only when it was the sole fault). */
  readonly fault?: Fault["_tag"] | undefined
  /** `false` when the client never saw the response (`TransportError`, `CommitThenDrop`). */
  readonly delivered: boolean
}

/**
 * Request counters, derived from the request log (so `clearLog` resets them).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const counters: FakeAuthorizationServer.Counters = yield* server.counters
 *   return counters.refreshToken
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), 0)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  readonly authorize: number
  readonly token: number
  readonly authorizationCode: number
  readonly refreshToken: number
  readonly revoke: number
  readonly api: number
  readonly reusedRefreshTokens: number
}

/**
 * A grant (token family): every token issued from one authorization code.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   yield* server.issueGrant({ user: "ann" })
 *   const grants: ReadonlyArray<FakeAuthorizationServer.Grant> = yield* server.grants
 *   return grants.map((grant) => grant.user)
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.deepStrictEqual(await Effect.runPromise(program), ["ann"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Grant {
  readonly id: string
  readonly clientId: string
  readonly user: string
  readonly scope: ReadonlyArray<string>
  readonly createdAt: number
  readonly revoked: boolean
  /** The refresh token that is currently valid for a refresh (if not revoked or expired). */
  readonly refreshToken: string | undefined
  /** Every access token issued, oldest first. */
  readonly accessTokens: ReadonlyArray<string>
  /** Every refresh token issued, oldest first. */
  readonly refreshTokens: ReadonlyArray<string>
}

/**
 * Tokens issued directly by `issueGrant`.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // Tokens to seed a store with, without a sign-in.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const issued: FakeAuthorizationServer.IssuedGrant = yield* server.issueGrant()
 *   return yield* server.isAccessTokenValid(issued.accessToken)
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), true)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedGrant {
  readonly grantId: string
  readonly accessToken: string
  readonly refreshToken: string
  readonly expiresIn: number
  readonly scope: ReadonlyArray<string>
}

/**
 * What the authorization endpoint does with a request before the user decides (see `prompt`): show the
 * consent screen for a valid request, or send the user back at once with an error (RFC 6749 §4.1.2.1).
 *
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // What the consent screen would ask for.
 * const program = Effect.gen(function*() {
 *   const { url } = yield* Effect.flatMap(OAuthClient.OAuthClient, (oauth) => oauth.authorize())
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const prompt: FakeAuthorizationServer.AuthorizationPrompt = yield* server.prompt(url)
 *   return prompt._tag
 * }).pipe(Effect.provide(OAuthTest.layer()))
 * assert.strictEqual(await Effect.runPromise(program), "Consent")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AuthorizationPrompt =
  | {
    readonly _tag: "Consent"
    readonly clientId: string
    readonly redirectUri: string
    /** The scope the user is asked to grant (every supported scope when the request names none). */
    readonly scope: ReadonlyArray<string>
    readonly state: string | undefined
  }
  | {
    readonly _tag: "Redirect"
    /** The callback URL with `error`, `error_description`, `state` and `iss`. */
    readonly url: URL
  }

/**
 * Which requests a fault applies to: an endpoint, optionally a `grant_type` (token endpoint), and how many
 * matching requests it affects (default 1).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * // The next two refreshes (not code exchanges) fail with 503.
 * const target: FakeAuthorizationServer.FaultTarget = { endpoint: "token", grantType: "refresh_token", times: 2 }
 * const fault = FakeAuthorizationServer.Fault.Status({ ...target, status: 503 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultTarget {
  readonly endpoint: "token" | "revoke" | "api" | "metadata" | "any"
  readonly grantType?: string | undefined
  readonly times?: number | undefined
}

/**
 * Broken 200 bodies of the `MalformedBody` fault.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const kinds: ReadonlyArray<FakeAuthorizationServer.MalformedBodyKind> = ["html", "empty", "not-json"]
 * const faults = kinds.map((kind) => FakeAuthorizationServer.Fault.MalformedBody({ endpoint: "token", kind }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type MalformedBodyKind =
  | "html"
  | "empty"
  | "not-json"
  | "json-array"
  | "wrong-types"
  | "missing-access-token"
  | "wrong-token-type"
  | "huge-body"

/**
 * Injected faults. A request consumes at most one `Delay` and one other fault (the first queued that match).
 *
 * - `Status`: answers `status` with `body` / `headers` without touching state.
 * - `Delay`: `Effect.sleep(duration)` (TestClock-driven) before handling.
 * - `MalformedBody`: a broken 200 response, state untouched.
 * - `HugeTokens`: real handling; the tokens issued are `size` characters long.
 * - `TokenResponseExtras`: real handling; `extras` are merged into the token response JSON.
 * - `CommitThenDrop`: real handling (state changes), then a `RequestError` with reason `Transport`.
 * - `TransportError`: a `RequestError` with reason `Transport`, state untouched.
 *
 * The faults of a hostile server (SPEC S32–S34), for the library's tests and for users' own:
 *
 * - `StalledBody`: real handling (state changes); the status, the headers and the first `bytes` of the
 *   body (default: half of it) arrive, then the body never ends. Over HTTP the socket stays open.
 * - `StalledHeaders`: real handling (state changes); the headers never finish. In memory no response
 *   arrives; over HTTP on Node the status line and part of the headers are written, then nothing.
 * - `EchoRequest`: answers `status` (default 400) with an RFC 6749 §5.2 error (default
 *   `invalid_request`) whose `error_description` and `error_uri` echo the request: its body, every form
 *   value and the Authorization header, as sent and URL-, form- and Base64-encoded. State untouched.
 * - `DeepJson`: real handling (state changes); the JSON body's `field` (default `scope`) is replaced by
 *   arrays nested `depth` levels deep.
 * - `OutOfRangeNumbers`: real handling (state changes); the token response's `expires_in` is
 *   `expiresIn` (default 9999999999999, far past the range of a JavaScript date).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 *
 * const faults: ReadonlyArray<FakeAuthorizationServer.Fault> = [
 *   FakeAuthorizationServer.Fault.Delay({ endpoint: "token", duration: "5 seconds" }),
 *   FakeAuthorizationServer.Fault.TransportError({ endpoint: "revoke" })
 * ]
 * assert.deepStrictEqual(faults.map((fault) => fault._tag), ["Delay", "TransportError"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = Data.TaggedEnum<{
  Status: FaultTarget & {
    readonly status: number
    readonly body?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  }
  Delay: FaultTarget & { readonly duration: Duration.DurationInput }
  MalformedBody: FaultTarget & { readonly kind: MalformedBodyKind }
  HugeTokens: FaultTarget & { readonly size: number }
  TokenResponseExtras: FaultTarget & { readonly extras: Readonly<Record<string, unknown>> }
  CommitThenDrop: FaultTarget
  TransportError: FaultTarget
  StalledBody: FaultTarget & { readonly bytes?: number | undefined }
  StalledHeaders: FaultTarget
  EchoRequest: FaultTarget & { readonly status?: number | undefined; readonly error?: string | undefined }
  DeepJson: FaultTarget & { readonly depth: number; readonly field?: string | undefined }
  OutOfRangeNumbers: FaultTarget & { readonly expiresIn?: number | string | undefined }
}>

/**
 * What `answer` gives: a response, or headers that never finish.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { HttpClientRequest } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // What an adapter to real HTTP writes for a request.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const answer: FakeAuthorizationServer.Answer = yield* server.answer(
 *     HttpClientRequest.get(server.endpoints.oauthMetadata)
 *   )
 *   return answer._tag === "Response" ? answer.response.status : undefined
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), 200)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Answer =
  | {
    readonly _tag: "Response"
    readonly response: HttpClientResponse.HttpClientResponse
    /** The body never ends (`StalledBody`): an adapter streams it instead of reading it first. */
    readonly stalled?: boolean | undefined
  }
  | {
    readonly _tag: "StalledHeaders"
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
  }

/**
 * Constructors of `Fault`: `Fault.Status({ endpoint: "token", status: 503 })`.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The next token request answers 503, without touching the server's state.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   yield* server.inject(FakeAuthorizationServer.Fault.Status({ endpoint: "token", status: 503 }))
 *   return (yield* server.pendingFaults).length
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), 1)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const Fault = Data.taggedEnum<Fault>()

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
    readonly endpoints: Endpoints
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
    ) => Effect.Effect<Answer, HttpClientError.HttpClientError>
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
    readonly prompt: (authorizationUrl: string | URL) => Effect.Effect<AuthorizationPrompt, FakeAuthorizationError>
    /** Issues a grant without the authorization flow (to seed a store). */
    readonly issueGrant: (options?: {
      readonly clientId?: string | undefined
      readonly user?: string | undefined
      readonly scope?: ReadonlyArray<string> | undefined
    }) => Effect.Effect<IssuedGrant, FakeAuthorizationError>
    readonly inject: (fault: Fault) => Effect.Effect<void>
    readonly pendingFaults: Effect.Effect<ReadonlyArray<Fault>>
    readonly clearFaults: Effect.Effect<void>
    readonly requests: Effect.Effect<ReadonlyArray<LoggedRequest>>
    readonly counters: Effect.Effect<Counters>
    /** Clears the request log (and therefore the counters). */
    readonly clearLog: Effect.Effect<void>
    /** Forgets every code, grant and token, clears the log and the pending faults. */
    readonly reset: Effect.Effect<void>
    readonly isAccessTokenValid: (token: string) => Effect.Effect<boolean>
    readonly isRefreshTokenValid: (token: string) => Effect.Effect<boolean>
    readonly grants: Effect.Effect<ReadonlyArray<Grant>>
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
  return server.make(opts, endpoints(opts), JSON.stringify(metadataDocument(opts)))
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
