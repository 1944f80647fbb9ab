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
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as SynchronizedRef from "effect/SynchronizedRef"
import * as internal from "./internal/fakeAuthorizationServer.js"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Client authentication methods of RFC 6749 §2.3.1.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post"

/**
 * A registered confidential client.
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
 * @since 0.1.0
 * @category models
 */
export type MetadataMode = "oauth" | "openid" | "both" | "none"

/**
 * Configuration of the fake server. Every field has a Credal-shaped default (see `defaultOptions`).
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
 * @since 0.1.0
 * @category constructors
 */
export const defaultClient: Client = {
  clientId: "test-client",
  clientSecret: "test-secret",
  redirectUris: ["http://127.0.0.1:3000/callback"],
  authMethods: ["client_secret_basic", "client_secret_post"]
}

/**
 * Credal API v1-shaped defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const defaultOptions: Options = {
  issuer: "https://app.credal.ai",
  authorizationPath: "/api/oauth/authorize",
  tokenPath: "/api/oauth/token",
  revocationPath: "/api/oauth/revoke",
  apiBasePath: "/api/v1",
  clients: [defaultClient],
  codeLifetime: Duration.minutes(10),
  accessTokenLifetime: Duration.hours(1),
  refreshTokenLifetime: Duration.days(30),
  rotateRefreshTokens: true,
  reuseRevokesFamily: true,
  refreshGraceWindow: Duration.zero,
  requirePkce: false,
  scopes: ["api:agent:message:*"],
  includeScopeInResponse: false,
  includeIssInCallback: true,
  tokenBytes: undefined,
  tokenResponseExtras: {},
  defaultUser: "test-user",
  realm: "fake-authorization-server"
}

/**
 * Fills the missing options with `defaultOptions`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeOptions = (options?: Partial<Options>): Options => ({ ...defaultOptions, ...options })

/**
 * Absolute URLs of the fake server's endpoints.
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
 * @since 0.1.0
 * @category utils
 */
export const endpoints = (options: Options): Endpoints => {
  const base = options.issuer.replace(/\/+$/, "")
  const issuer = URL.canParse(options.issuer) ? new URL(options.issuer) : undefined
  const origin = issuer === undefined ? base : issuer.origin
  const path = issuer === undefined ? "" : issuer.pathname.replace(/\/+$/, "")
  return {
    issuer: options.issuer,
    authorization: base + options.authorizationPath,
    token: base + options.tokenPath,
    revocation: base + options.revocationPath,
    apiBase: base + options.apiBasePath,
    oauthMetadata: `${origin}/.well-known/oauth-authorization-server${path}`,
    openIdConfiguration: `${origin}${path}/.well-known/openid-configuration`
  }
}

/**
 * The authorization server metadata document the fake serves (RFC 8414 §2, with RFC 9207's
 * `authorization_response_iss_parameter_supported` following `includeIssInCallback`).
 *
 * @since 0.1.0
 * @category utils
 */
export const metadataDocument = (options: Options): Readonly<Record<string, unknown>> => {
  const urls = endpoints(options)
  const methods = (["client_secret_basic", "client_secret_post"] as const).filter((method) =>
    options.clients.some((client) =>
      (client.authMethods ?? ["client_secret_basic", "client_secret_post"]).includes(method)
    )
  )
  return {
    issuer: options.metadataIssuer ?? options.issuer,
    authorization_endpoint: urls.authorization,
    token_endpoint: urls.token,
    revocation_endpoint: urls.revocation,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: methods,
    revocation_endpoint_auth_methods_supported: methods,
    scopes_supported: options.scopes,
    authorization_response_iss_parameter_supported: options.includeIssInCallback
  }
}

/**
 * Which endpoint a request hit. `authorize` entries come from `approve` / `deny` (and from `prompt` when it
 * refuses or redirects with an error); `metadata` is either well-known metadata document.
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = "authorize" | "token" | "revoke" | "api" | "metadata" | "other"

/**
 * One request seen by the fake server. Values are raw (this is a test tool): form parameters and headers
 * carry secrets and tokens as sent.
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
}>

/**
 * Constructors of `Fault`: `Fault.Status({ endpoint: "token", status: 503 })`.
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
 * @since 0.1.0
 * @category errors
 */
export class FakeAuthorizationError extends Schema.TaggedError<FakeAuthorizationError>(
  "@effect-oauth/testing/FakeAuthorizationError"
)("FakeAuthorizationError", {
  reason: Schema.Literal("InvalidUrl", "WrongEndpoint", "InvalidClient", "InvalidRedirectUri"),
  description: Schema.String
}) {
  override get message(): string {
    return `The fake authorization server refused the authorization request without redirecting (${this.reason}): ${this.description}. Check the client_id, redirect_uri and endpoint of the authorization URL.`
  }
}

// -----------------------------------------------------------------------------
// tags
// -----------------------------------------------------------------------------

/**
 * The fake authorization server.
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
   * @since 0.1.0
   * @category models
   */
  export interface Service {
    readonly options: Options
    readonly endpoints: Endpoints
    /** Answers one HTTP request (token, revocation, API, or 404). */
    readonly handle: (
      request: HttpClientRequest.HttpClientRequest
    ) => Effect.Effect<HttpClientResponse.HttpClientResponse, HttpClientError.HttpClientError>
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
// internal state
// -----------------------------------------------------------------------------

interface CodeRecord {
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: ReadonlyArray<string>
  readonly user: string
  readonly codeChallenge: string | undefined
  readonly expiresAt: number
  readonly grantId: string | undefined
}

interface GrantRecord {
  readonly id: string
  readonly clientId: string
  readonly user: string
  readonly scope: ReadonlyArray<string>
  readonly createdAt: number
  readonly revokedAt: number | undefined
  readonly refreshToken: string | undefined
  readonly accessTokens: ReadonlyArray<string>
  readonly refreshTokens: ReadonlyArray<string>
}

interface AccessTokenRecord {
  readonly grantId: string
  readonly clientId: string
  readonly user: string
  readonly expiresAt: number
  readonly revokedAt: number | undefined
}

interface IssuedTokens {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  readonly scope: ReadonlyArray<string>
}

interface RefreshTokenRecord {
  readonly grantId: string
  readonly clientId: string
  readonly expiresAt: number
  readonly revokedAt: number | undefined
  readonly rotatedAt: number | undefined
  readonly successor: IssuedTokens | undefined
}

interface Job {
  readonly jobId: string
  readonly user: string
  readonly clientId: string
  readonly message: string
}

/** Maps are copied at the start of every transaction and mutated only inside it. */
interface State {
  readonly codes: Map<string, CodeRecord>
  readonly grants: Map<string, GrantRecord>
  readonly accessTokens: Map<string, AccessTokenRecord>
  readonly refreshTokens: Map<string, RefreshTokenRecord>
  readonly jobs: Map<string, Job>
}

const emptyState = (): State => ({
  codes: new Map(),
  grants: new Map(),
  accessTokens: new Map(),
  refreshTokens: new Map(),
  jobs: new Map()
})

const cloneState = (state: State): State => ({
  codes: new Map(state.codes),
  grants: new Map(state.grants),
  accessTokens: new Map(state.accessTokens),
  refreshTokens: new Map(state.refreshTokens),
  jobs: new Map(state.jobs)
})

interface Outcome {
  readonly status: number
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
  readonly error?: string | undefined
  readonly clientId?: string | undefined
  readonly clientAuth?: ClientAuthMethod | undefined
  readonly reused?: boolean | undefined
  readonly grace?: boolean | undefined
}

interface Incoming {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly bodyText: string | undefined
  readonly isForm: boolean
  readonly form: internal.ParsedForm
}

interface HandlingContext {
  readonly tokenSize: number | undefined
  readonly extras: Readonly<Record<string, unknown>>
}

interface QueuedFault {
  readonly fault: Fault
  readonly remaining: number
}

const noStore = { "cache-control": "no-store", pragma: "no-cache" }
const jsonHeaders = { "content-type": "application/json", ...noStore }

const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): Outcome => ({
  status,
  body: JSON.stringify(body),
  headers: { ...jsonHeaders, ...headers }
})

const oauthError = (
  status: number,
  error: string,
  description: string,
  headers?: Readonly<Record<string, string>>
): Outcome => ({ ...json(status, { error, error_description: description }, headers), error })

const nullBodyStatuses = new Set([101, 204, 205, 304])

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Builds a fake server with fresh state.
 *
 * @since 0.1.0
 * @category constructors
 */
const loopbackHosts = new Set(["127.0.0.1", "[::1]"])

const withoutPort = (uri: string): string | undefined => {
  if (!URL.canParse(uri)) return undefined
  const url = new URL(uri)
  if (url.protocol !== "http:" || !loopbackHosts.has(url.hostname)) return undefined
  url.port = ""
  return url.href
}

/**
 * A new fake server with `options` (see {@link makeOptions} for the defaults).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options?: Partial<Options>): Effect.Effect<FakeAuthorizationServer.Service> =>
  Effect.gen(function*() {
    const opts = makeOptions(options)
    const redirectMatches = (registered: string, requested: string): boolean => {
      if (registered === requested) return true
      if (opts.loopbackAnyPort !== true) return false
      const bare = withoutPort(registered)
      return bare !== undefined && bare === withoutPort(requested)
    }
    const urls = endpoints(opts)
    const issuerOrigin = new URL(urls.token).origin
    const paths = {
      token: new URL(urls.token).pathname,
      revoke: new URL(urls.revocation).pathname,
      api: new URL(urls.apiBase).pathname.replace(/\/+$/, "")
    }
    const metadataMode = opts.metadata ?? "both"
    const metadataPaths = {
      oauth: new URL(urls.oauthMetadata).pathname,
      openid: new URL(urls.openIdConfiguration).pathname
    }
    /** Both well-known paths are the `metadata` endpoint; the ones `metadata` does not serve answer 404. */
    const servedMetadataPaths = [
      ...(metadataMode === "oauth" || metadataMode === "both" ? [metadataPaths.oauth] : []),
      ...(metadataMode === "openid" || metadataMode === "both" ? [metadataPaths.openid] : [])
    ]
    const metadataBody = JSON.stringify(metadataDocument(opts))
    const codeMillis = Duration.toMillis(opts.codeLifetime)
    const accessMillis = Duration.toMillis(opts.accessTokenLifetime)
    const refreshMillis = Duration.toMillis(opts.refreshTokenLifetime)
    const graceMillis = Duration.toMillis(opts.refreshGraceWindow)
    const clients = new Map(opts.clients.map((client) => [client.clientId, client] as const))

    const stateRef = yield* SynchronizedRef.make(emptyState())
    const logRef = yield* Ref.make<ReadonlyArray<LoggedRequest>>([])
    const faultsRef = yield* Ref.make<ReadonlyArray<QueuedFault>>([])

    const log = (entry: LoggedRequest) => Ref.update(logRef, (entries) => [...entries, entry])

    /** Serialized and uninterruptible, like a server that commits whatever happens to the connection. */
    const transact = <A>(f: (tx: State, now: number) => Effect.Effect<A>): Effect.Effect<A> =>
      Effect.uninterruptible(SynchronizedRef.modifyEffect(stateRef, (state) => {
        const tx = cloneState(state)
        return Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.map(f(tx, now), (result) => [result, tx] as const)
        )
      }))

    const read = <A>(f: (state: State, now: number) => A): Effect.Effect<A> =>
      Effect.flatMap(
        SynchronizedRef.get(stateRef),
        (state) => Effect.map(Clock.currentTimeMillis, (now) => f(state, now))
      )

    // --- token issue -----------------------------------------------------------

    const revokeGrant = (tx: State, grantId: string | undefined, now: number) => {
      if (grantId === undefined) return
      const grant = tx.grants.get(grantId)
      if (grant !== undefined && grant.revokedAt === undefined) {
        tx.grants.set(grantId, { ...grant, revokedAt: now })
      }
    }

    const issueTokens = (
      tx: State,
      now: number,
      grantId: string,
      scope: ReadonlyArray<string>,
      size: number | undefined
    ): Effect.Effect<IssuedTokens> =>
      Effect.gen(function*() {
        const grant = tx.grants.get(grantId)
        if (grant === undefined) return yield* Effect.dieMessage("FakeAuthorizationServer: unknown grant")
        const accessToken = yield* internal.randomToken("at_", size)
        tx.accessTokens.set(accessToken, {
          grantId,
          clientId: grant.clientId,
          user: grant.user,
          expiresAt: now + accessMillis,
          revokedAt: undefined
        })
        const rotate = opts.rotateRefreshTokens || grant.refreshToken === undefined
        const refreshToken = rotate ? yield* internal.randomToken("rt_", size) : undefined
        if (refreshToken !== undefined) {
          tx.refreshTokens.set(refreshToken, {
            grantId,
            clientId: grant.clientId,
            expiresAt: now + refreshMillis,
            revokedAt: undefined,
            rotatedAt: undefined,
            successor: undefined
          })
        }
        tx.grants.set(grantId, {
          ...grant,
          refreshToken: refreshToken ?? grant.refreshToken,
          accessTokens: [...grant.accessTokens, accessToken],
          refreshTokens: refreshToken === undefined ? grant.refreshTokens : [...grant.refreshTokens, refreshToken]
        })
        return { accessToken, refreshToken, scope }
      })

    const newGrant = (tx: State, now: number, clientId: string, user: string, scope: ReadonlyArray<string>) =>
      Effect.map(internal.randomToken("grant_", undefined), (id) => {
        tx.grants.set(id, {
          id,
          clientId,
          user,
          scope,
          createdAt: now,
          revokedAt: undefined,
          refreshToken: undefined,
          accessTokens: [],
          refreshTokens: []
        })
        return id
      })

    const tokenResponse = (tx: State, now: number, issued: IssuedTokens, ctx: HandlingContext): Outcome => {
      const expiresAt = tx.accessTokens.get(issued.accessToken)?.expiresAt ?? now
      const body: Record<string, unknown> = { access_token: issued.accessToken, token_type: "Bearer" }
      if (Number.isFinite(expiresAt)) body.expires_in = Math.max(0, Math.round((expiresAt - now) / 1000))
      if (issued.refreshToken !== undefined) body.refresh_token = issued.refreshToken
      if (opts.includeScopeInResponse) body.scope = issued.scope.join(" ")
      return json(200, { ...body, ...opts.tokenResponseExtras, ...ctx.extras })
    }

    // --- client authentication -------------------------------------------------

    const invalidClient = (description: string) =>
      oauthError(401, "invalid_client", description, { "www-authenticate": `Basic realm="${opts.realm}"` })

    const authenticate = (
      req: Incoming
    ): Either.Either<{ readonly client: Client; readonly method: ClientAuthMethod }, Outcome> => {
      const authorization = req.headers["authorization"]
      const bodySecret = req.form.record["client_secret"]
      const bodyId = req.form.record["client_id"]
      let credentials: { readonly clientId: string; readonly clientSecret: string }
      let method: ClientAuthMethod
      if (authorization !== undefined) {
        if (!/^basic /i.test(authorization)) {
          return Either.left(invalidClient("unsupported authorization scheme for client authentication"))
        }
        if (bodySecret !== undefined) {
          return Either.left(
            oauthError(400, "invalid_request", "more than one client authentication method was used")
          )
        }
        const decoded = internal.decodeBasicCredentials(authorization)
        if (Option.isNone(decoded)) {
          return Either.left(invalidClient("malformed Basic credentials (RFC 6749 §2.3.1 form-urlencoding)"))
        }
        if (bodyId !== undefined && bodyId !== decoded.value.clientId) {
          return Either.left(oauthError(400, "invalid_request", "client_id in the body differs from Basic credentials"))
        }
        credentials = decoded.value
        method = "client_secret_basic"
      } else if (bodySecret !== undefined) {
        if (bodyId === undefined) return Either.left(invalidClient("client_secret without client_id"))
        credentials = { clientId: bodyId, clientSecret: bodySecret }
        method = "client_secret_post"
      } else {
        return Either.left(invalidClient("client authentication is required"))
      }
      const client = clients.get(credentials.clientId)
      if (client === undefined || client.clientSecret !== credentials.clientSecret) {
        return Either.left(invalidClient("unknown client or wrong secret"))
      }
      const allowed = client.authMethods ?? ["client_secret_basic", "client_secret_post"]
      if (!allowed.includes(method)) {
        return Either.left(invalidClient(`${method} is not allowed for this client`))
      }
      return Either.right({ client, method })
    }

    /** Checks shared by the token and revocation endpoints: POST, form body, no query, no repeats, client auth. */
    const formEndpointPrelude = (
      req: Incoming
    ): Either.Either<{ readonly client: Client; readonly method: ClientAuthMethod }, Outcome> => {
      if (req.method !== "POST") {
        return Either.left(oauthError(405, "invalid_request", "only POST is allowed", { allow: "POST" }))
      }
      if (req.url.search !== "") {
        return Either.left(oauthError(400, "invalid_request", "parameters must not be sent in the URL query"))
      }
      if (!req.isForm) {
        return Either.left(
          oauthError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
        )
      }
      if (req.form.repeated.length > 0) {
        return Either.left(
          oauthError(400, "invalid_request", `repeated parameters: ${req.form.repeated.join(", ")}`)
        )
      }
      return authenticate(req)
    }

    // --- token endpoint --------------------------------------------------------

    const authorizationCodeGrant = (
      tx: State,
      now: number,
      req: Incoming,
      client: Client,
      ctx: HandlingContext
    ): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const form = req.form.record
        const codeValue = form["code"]
        if (codeValue === undefined) return oauthError(400, "invalid_request", "code is required")
        const code = tx.codes.get(codeValue)
        if (code === undefined || code.clientId !== client.clientId) {
          return oauthError(400, "invalid_grant", "unknown authorization code")
        }
        if (code.grantId !== undefined) {
          revokeGrant(tx, code.grantId, now)
          return oauthError(400, "invalid_grant", "authorization code was already used; its tokens are revoked")
        }
        if (now >= code.expiresAt) return oauthError(400, "invalid_grant", "authorization code expired")
        const redirectUri = form["redirect_uri"]
        if (redirectUri === undefined) return oauthError(400, "invalid_request", "redirect_uri is required")
        if (redirectUri !== code.redirectUri) {
          return oauthError(400, "invalid_grant", "redirect_uri differs from the authorization request")
        }
        const verifier = form["code_verifier"]
        if (code.codeChallenge === undefined) {
          if (verifier !== undefined) {
            return oauthError(400, "invalid_grant", "code_verifier sent for a code issued without code_challenge")
          }
        } else {
          if (verifier === undefined) return oauthError(400, "invalid_request", "code_verifier is required")
          if (!internal.codeVerifierPattern.test(verifier) || internal.s256(verifier) !== code.codeChallenge) {
            return oauthError(400, "invalid_grant", "PKCE verification failed")
          }
        }
        const grantId = yield* newGrant(tx, now, client.clientId, code.user, code.scope)
        tx.codes.set(codeValue, { ...code, grantId })
        const issued = yield* issueTokens(tx, now, grantId, code.scope, ctx.tokenSize)
        return tokenResponse(tx, now, issued, ctx)
      })

    const refreshTokenGrant = (
      tx: State,
      now: number,
      req: Incoming,
      client: Client,
      ctx: HandlingContext
    ): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const form = req.form.record
        const presented = form["refresh_token"]
        if (presented === undefined) return oauthError(400, "invalid_request", "refresh_token is required")
        const record = tx.refreshTokens.get(presented)
        if (record === undefined || record.clientId !== client.clientId) {
          return oauthError(400, "invalid_grant", "unknown refresh token")
        }
        const grant = tx.grants.get(record.grantId)
        if (grant === undefined) return oauthError(400, "invalid_grant", "unknown refresh token")
        if (record.rotatedAt !== undefined) {
          const successor = record.successor
          const successorRecord = successor?.refreshToken === undefined
            ? undefined
            : tx.refreshTokens.get(successor.refreshToken)
          if (
            graceMillis > 0 && now - record.rotatedAt <= graceMillis && successor !== undefined &&
            grant.revokedAt === undefined && grant.refreshToken === successor.refreshToken &&
            successorRecord !== undefined && successorRecord.revokedAt === undefined
          ) {
            return { ...tokenResponse(tx, now, successor, ctx), reused: true, grace: true }
          }
          if (opts.reuseRevokesFamily) revokeGrant(tx, grant.id, now)
          return {
            ...oauthError(
              400,
              "invalid_grant",
              opts.reuseRevokesFamily
                ? "refresh token was already used; the grant is revoked"
                : "refresh token was already used"
            ),
            reused: true
          }
        }
        if (record.revokedAt !== undefined || grant.revokedAt !== undefined) {
          return oauthError(400, "invalid_grant", "refresh token was revoked")
        }
        if (now >= record.expiresAt) return oauthError(400, "invalid_grant", "refresh token expired")
        let scope = grant.scope
        const requested = form["scope"]
        if (requested !== undefined) {
          const parsed = internal.parseScope(requested)
          if (Option.isNone(parsed) || !parsed.value.every((s) => grant.scope.includes(s))) {
            return oauthError(400, "invalid_scope", "requested scope exceeds the granted scope")
          }
          scope = parsed.value
        }
        const issued = yield* issueTokens(tx, now, grant.id, scope, ctx.tokenSize)
        if (opts.rotateRefreshTokens) {
          tx.refreshTokens.set(presented, { ...record, rotatedAt: now, successor: issued })
        }
        return tokenResponse(tx, now, issued, ctx)
      })

    const tokenEndpoint = (tx: State, now: number, req: Incoming, ctx: HandlingContext): Effect.Effect<Outcome> =>
      Either.match(formEndpointPrelude(req), {
        onLeft: Effect.succeed,
        onRight: ({ client, method }) => {
          const grantType = req.form.record["grant_type"]
          const tag = (outcome: Outcome): Outcome => ({ ...outcome, clientId: client.clientId, clientAuth: method })
          if (grantType === undefined) {
            return Effect.succeed(tag(oauthError(400, "invalid_request", "grant_type is required")))
          }
          if (grantType === "authorization_code") {
            return Effect.map(authorizationCodeGrant(tx, now, req, client, ctx), tag)
          }
          if (grantType === "refresh_token") {
            return Effect.map(refreshTokenGrant(tx, now, req, client, ctx), tag)
          }
          return Effect.succeed(
            tag(oauthError(400, "unsupported_grant_type", `grant_type ${grantType} is not supported`))
          )
        }
      })

    // --- revocation endpoint ---------------------------------------------------

    const revokeEndpoint = (tx: State, now: number, req: Incoming): Outcome =>
      Either.match(formEndpointPrelude(req), {
        onLeft: (outcome) => outcome,
        onRight: ({ client, method }): Outcome => {
          const tag = (outcome: Outcome): Outcome => ({ ...outcome, clientId: client.clientId, clientAuth: method })
          const token = req.form.record["token"]
          if (token === undefined) return tag(oauthError(400, "invalid_request", "token is required"))
          const done = tag({ status: 200, body: "", headers: noStore })
          const access = tx.accessTokens.get(token)
          if (access !== undefined) {
            if (access.clientId !== client.clientId) {
              return tag(oauthError(400, "unauthorized_client", "the token was issued to another client"))
            }
            if (access.revokedAt === undefined) tx.accessTokens.set(token, { ...access, revokedAt: now })
            return done
          }
          const refresh = tx.refreshTokens.get(token)
          if (refresh !== undefined) {
            if (refresh.clientId !== client.clientId) {
              return tag(oauthError(400, "unauthorized_client", "the token was issued to another client"))
            }
            if (refresh.revokedAt === undefined) tx.refreshTokens.set(token, { ...refresh, revokedAt: now })
            revokeGrant(tx, refresh.grantId, now)
          }
          return done
        }
      })

    // --- protected resource ----------------------------------------------------

    const accessTokenValid = (state: State, now: number, token: string): AccessTokenRecord | undefined => {
      const record = state.accessTokens.get(token)
      if (record === undefined || record.revokedAt !== undefined || now >= record.expiresAt) return undefined
      const grant = state.grants.get(record.grantId)
      return grant === undefined || grant.revokedAt !== undefined ? undefined : record
    }

    const apiEndpoint = (tx: State, now: number, req: Incoming): Effect.Effect<Outcome> =>
      Effect.gen(function*() {
        const route = `${req.method} ${req.url.pathname.slice(paths.api.length)}`
        const known = ["GET /whoami", "POST /agents/sendMessage", "GET /agents/fetchAgentResponse"]
        if (!known.includes(route)) return json(404, { error: "not_found" })
        if (req.url.searchParams.has("access_token")) {
          return oauthError(400, "invalid_request", "access tokens must not be sent in the URL query")
        }
        const authorization = req.headers["authorization"]
        if (authorization === undefined) {
          return {
            ...json(401, { error: "unauthorized" }, { "www-authenticate": `Bearer realm="${opts.realm}"` }),
            error: "unauthorized"
          }
        }
        const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization)
        const token = match?.[1]
        const record = token === undefined ? undefined : accessTokenValid(tx, now, token)
        if (record === undefined) {
          return oauthError(401, "invalid_token", "the access token is invalid, expired or revoked", {
            "www-authenticate": `Bearer realm="${opts.realm}", error="invalid_token"`
          })
        }
        const who = { clientId: record.clientId }
        if (route === "GET /whoami") return { ...json(200, { user: record.user, ...who }), ...who }
        if (route === "POST /agents/sendMessage") {
          const payload = internal.parseJson(req.bodyText ?? "")
          const message = Option.match(payload, {
            onNone: () => "",
            onSome: (value) =>
              typeof value === "object" && value !== null && "message" in value && typeof value.message === "string"
                ? value.message
                : ""
          })
          const jobId = yield* internal.randomToken("job_", undefined)
          tx.jobs.set(jobId, { jobId, user: record.user, clientId: record.clientId, message })
          return { ...json(200, { jobId }), ...who }
        }
        const job = tx.jobs.get(req.url.searchParams.get("jobId") ?? "")
        if (job === undefined || job.user !== record.user) return { ...json(404, { error: "job_not_found" }), ...who }
        return {
          ...json(200, { jobId: job.jobId, status: "completed", response: { message: `echo: ${job.message}` } }),
          ...who
        }
      })

    // --- routing and faults ----------------------------------------------------

    const route = (url: URL): "token" | "revoke" | "api" | "metadata" | "other" => {
      if (url.origin !== issuerOrigin) return "other"
      if (url.pathname === metadataPaths.oauth || url.pathname === metadataPaths.openid) return "metadata"
      if (url.pathname === paths.token) return "token"
      if (url.pathname === paths.revoke) return "revoke"
      if (url.pathname.startsWith(paths.api + "/")) return "api"
      return "other"
    }

    const takeFaults = (endpoint: Endpoint, grantType: string | undefined) =>
      Ref.modify(faultsRef, (queue) => {
        const matches = (fault: Fault) =>
          (fault.endpoint === "any" || fault.endpoint === endpoint) &&
          (fault.grantType === undefined || fault.grantType === grantType)
        const delayIndex = queue.findIndex(({ fault }) => fault._tag === "Delay" && matches(fault))
        const otherIndex = queue.findIndex(({ fault }) => fault._tag !== "Delay" && matches(fault))
        const next = queue
          .map((entry, index) =>
            index === delayIndex || index === otherIndex ? { ...entry, remaining: entry.remaining - 1 } : entry
          )
          .filter((entry) => entry.remaining > 0)
        return [{ delay: queue[delayIndex]?.fault, other: queue[otherIndex]?.fault }, next] as const
      })

    const malformed = (kind: MalformedBodyKind): Outcome => {
      const ok = (body: string, contentType = "application/json"): Outcome => ({
        status: 200,
        body,
        headers: { ...noStore, "content-type": contentType }
      })
      switch (kind) {
        case "html":
          return ok("<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>", "text/html; charset=utf-8")
        case "empty":
          return ok("")
        case "not-json":
          return ok("access_token=at_not_json&token_type=Bearer")
        case "json-array":
          return ok(JSON.stringify([{ access_token: "at_in_array", token_type: "Bearer", expires_in: 3600 }]))
        case "wrong-types":
          return ok(JSON.stringify({ access_token: 12345, token_type: true, expires_in: "soon", refresh_token: {} }))
        case "missing-access-token":
          return ok(JSON.stringify({ token_type: "Bearer", expires_in: 3600, refresh_token: "rt_orphan" }))
        case "wrong-token-type":
          return ok(JSON.stringify({ access_token: "at_mac", token_type: "mac", expires_in: 3600 }))
        case "huge-body":
          return ok(
            JSON.stringify({
              access_token: "at_huge",
              token_type: "Bearer",
              expires_in: 3600,
              padding: "x".repeat(1024 * 1024 + 1024)
            })
          )
      }
    }

    const dispatch = (
      endpoint: "token" | "revoke" | "api" | "metadata" | "other",
      req: Incoming,
      ctx: HandlingContext
    ): Effect.Effect<Outcome> => {
      switch (endpoint) {
        case "token":
          return transact((tx, now) => tokenEndpoint(tx, now, req, ctx))
        case "revoke":
          return transact((tx, now) => Effect.succeed(revokeEndpoint(tx, now, req)))
        case "api":
          return transact((tx, now) => apiEndpoint(tx, now, req))
        case "metadata":
          return Effect.succeed(
            !servedMetadataPaths.includes(req.url.pathname)
              ? json(404, { error: "not_found" })
              : req.method === "GET"
              ? { status: 200, body: metadataBody, headers: { "content-type": "application/json" } }
              : json(405, { error: "method_not_allowed" }, { allow: "GET" })
          )
        case "other":
          return Effect.succeed(json(404, { error: "not_found" }))
      }
    }

    const transportError = (request: HttpClientRequest.HttpClientRequest, description: string) =>
      new HttpClientError.RequestError({ request, reason: "Transport", description })

    const handle = Effect.fnUntraced(function*(request: HttpClientRequest.HttpClientRequest) {
      const at = yield* Clock.currentTimeMillis
      const url = yield* Either.match(UrlParams.makeUrl(request.url, request.urlParams, request.hash), {
        onLeft: (cause) => Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause })),
        onRight: Effect.succeed
      })
      const endpoint = route(url)
      const headers: Record<string, string> = Object.fromEntries(Object.entries(request.headers))
      const bodyText = yield* Effect.mapError(
        internal.readBodyText(request.body),
        (cause) => new HttpClientError.RequestError({ request, reason: "Encode", cause })
      )
      const isForm = bodyText !== undefined && internal.isFormContentType(headers["content-type"])
      const form = isForm ? internal.parseParams(new URLSearchParams(bodyText)) : internal.emptyForm
      const grantType = endpoint === "token" ? form.record["grant_type"] : undefined
      const req: Incoming = { method: request.method, url, headers, bodyText, isForm, form }
      const faults = yield* takeFaults(endpoint, grantType)
      if (faults.delay !== undefined && faults.delay._tag === "Delay") yield* Effect.sleep(faults.delay.duration)
      const fault = faults.other ?? faults.delay
      const base = {
        at,
        endpoint,
        method: request.method,
        url: url.toString(),
        headers,
        form: form.record,
        grantType,
        refreshTokenPresented: grantType === "refresh_token" ? form.record["refresh_token"] : undefined,
        fault: fault?._tag
      }
      if (fault?._tag === "TransportError") {
        yield* log({ ...base, status: 0, reusedRefreshToken: false, graceReplay: false, delivered: false })
        return yield* transportError(request, "injected transport error (fake authorization server)")
      }
      let outcome: Outcome
      if (fault?._tag === "Status") {
        const body = fault.body ?? ""
        outcome = {
          status: fault.status,
          body,
          headers: { ...(body.startsWith("{") ? jsonHeaders : {}), ...fault.headers }
        }
      } else if (fault?._tag === "MalformedBody") {
        outcome = malformed(fault.kind)
      } else {
        outcome = yield* dispatch(endpoint, req, {
          tokenSize: fault?._tag === "HugeTokens" ? fault.size : opts.tokenBytes,
          extras: fault?._tag === "TokenResponseExtras" ? fault.extras : {}
        })
      }
      const dropped = fault?._tag === "CommitThenDrop"
      yield* log({
        ...base,
        status: outcome.status,
        error: outcome.error,
        clientId: outcome.clientId,
        clientAuth: outcome.clientAuth,
        reusedRefreshToken: outcome.reused === true,
        graceReplay: outcome.grace === true,
        delivered: !dropped
      })
      if (dropped) {
        return yield* transportError(request, "connection lost after the server committed (fake authorization server)")
      }
      return yield* Effect.sync(() =>
        HttpClientResponse.fromWeb(
          request,
          new Response(nullBodyStatuses.has(outcome.status) ? null : outcome.body, {
            status: outcome.status,
            headers: outcome.headers
          })
        )
      )
    })

    // --- authorization (programmatic) ------------------------------------------

    type Decision =
      | { readonly _tag: "Approve"; readonly user: string }
      | { readonly _tag: "Deny"; readonly error: string; readonly description: string | undefined }
      | { readonly _tag: "Prompt" }

    const authorize = (
      input: string | URL,
      decision: Decision
    ): Effect.Effect<AuthorizationPrompt, FakeAuthorizationError> =>
      Effect.gen(function*() {
        const at = yield* Clock.currentTimeMillis
        const parsed = internal.parseUrl(input)
        const url = Option.getOrUndefined(parsed)
        const params = url === undefined ? internal.emptyForm : internal.parseParams(url.searchParams)
        const base = {
          at,
          endpoint: "authorize" as const,
          method: "GET",
          url: input.toString(),
          headers: {},
          form: params.record,
          clientId: params.record["client_id"],
          reusedRefreshToken: false,
          graceReplay: false,
          delivered: true
        }
        const refuse = (reason: FakeAuthorizationError["reason"], description: string) =>
          Effect.zipRight(
            log({ ...base, status: 400, error: reason }),
            new FakeAuthorizationError({ reason, description })
          )
        if (url === undefined) return yield* refuse("InvalidUrl", "the authorization URL cannot be parsed")
        if (url.origin + url.pathname !== urls.authorization) {
          return yield* refuse("WrongEndpoint", `expected ${urls.authorization}, got ${url.origin}${url.pathname}`)
        }
        if (params.repeated.includes("client_id")) return yield* refuse("InvalidClient", "client_id is repeated")
        const client = clients.get(params.record["client_id"] ?? "")
        if (client === undefined) return yield* refuse("InvalidClient", "client_id is missing or unknown")
        if (params.repeated.includes("redirect_uri")) {
          return yield* refuse("InvalidRedirectUri", "redirect_uri is repeated")
        }
        const redirectUri = params.record["redirect_uri"]
        if (
          redirectUri === undefined ||
          !client.redirectUris.some((registered) => redirectMatches(registered, redirectUri))
        ) {
          return yield* refuse("InvalidRedirectUri", "redirect_uri is missing or not registered (exact match)")
        }
        const callback = new URL(redirectUri)
        const state = params.record["state"]
        const redirect = (query: Record<string, string | undefined>, error: string | undefined) => {
          for (const [key, value] of Object.entries(query)) {
            if (value !== undefined) callback.searchParams.append(key, value)
          }
          if (state !== undefined) callback.searchParams.append("state", state)
          if (opts.includeIssInCallback) callback.searchParams.append("iss", opts.issuer)
          return Effect.as(log({ ...base, status: 302, error }), { _tag: "Redirect", url: callback } as const)
        }
        const fail = (error: string, description: string) => redirect({ error, error_description: description }, error)

        if (params.repeated.length > 0) {
          return yield* fail("invalid_request", `repeated parameters: ${params.repeated.join(", ")}`)
        }
        const responseType = params.record["response_type"]
        if (responseType === undefined) return yield* fail("invalid_request", "response_type is required")
        if (responseType !== "code") {
          return yield* fail("unsupported_response_type", "only response_type=code is supported")
        }
        const scopeParam = params.record["scope"]
        let scope = opts.scopes
        if (scopeParam !== undefined) {
          const requested = internal.parseScope(scopeParam)
          if (Option.isNone(requested) || !requested.value.every((s) => opts.scopes.includes(s))) {
            return yield* fail("invalid_scope", "the requested scope is malformed or not supported")
          }
          scope = requested.value
        }
        const challenge = params.record["code_challenge"]
        const challengeMethod = params.record["code_challenge_method"]
        if (challenge === undefined) {
          if (challengeMethod !== undefined) {
            return yield* fail("invalid_request", "code_challenge_method without code_challenge")
          }
          if (opts.requirePkce) return yield* fail("invalid_request", "PKCE (S256) is required")
        } else {
          if (challengeMethod === undefined || challengeMethod === "plain") {
            return yield* fail("invalid_request", "the plain PKCE method is not allowed; use S256")
          }
          if (challengeMethod !== "S256") {
            return yield* fail("invalid_request", "unsupported code_challenge_method")
          }
          if (!internal.s256ChallengePattern.test(challenge)) {
            return yield* fail("invalid_request", "malformed S256 code_challenge")
          }
        }
        if (decision._tag === "Prompt") {
          return { _tag: "Consent", clientId: client.clientId, redirectUri, scope, state } as const
        }
        if (decision._tag === "Deny") return yield* fail(decision.error, decision.description ?? "")
        const code = yield* transact((tx, now) =>
          Effect.tap(internal.randomToken("ac_", undefined), (code) =>
            Effect.sync(() =>
              tx.codes.set(code, {
                clientId: client.clientId,
                redirectUri,
                scope,
                user: decision.user,
                codeChallenge: challenge,
                expiresAt: now + codeMillis,
                grantId: undefined
              })
            ))
        )
        return yield* redirect({ code }, undefined)
      })

    const redirectOf = (prompt: AuthorizationPrompt): Effect.Effect<URL> =>
      prompt._tag === "Redirect"
        ? Effect.succeed(prompt.url)
        : Effect.dieMessage("FakeAuthorizationServer: a decision always redirects")

    const approve = Effect.fn("FakeAuthorizationServer.approve")(
      function*(authorizationUrl: string | URL, options?: { readonly user?: string | undefined }) {
        return yield* redirectOf(
          yield* authorize(authorizationUrl, { _tag: "Approve", user: options?.user ?? opts.defaultUser })
        )
      }
    )

    const deny = Effect.fn("FakeAuthorizationServer.deny")(
      function*(authorizationUrl: string | URL, error?: string, description?: string) {
        return yield* redirectOf(
          yield* authorize(authorizationUrl, {
            _tag: "Deny",
            error: error ?? "access_denied",
            description: description ?? (error === undefined ? "The user denied the request" : undefined)
          })
        )
      }
    )

    const prompt = Effect.fn("FakeAuthorizationServer.prompt")(function*(authorizationUrl: string | URL) {
      return yield* authorize(authorizationUrl, { _tag: "Prompt" })
    })

    const issueGrant = Effect.fn("FakeAuthorizationServer.issueGrant")(
      function*(options?: {
        readonly clientId?: string | undefined
        readonly user?: string | undefined
        readonly scope?: ReadonlyArray<string> | undefined
      }) {
        const clientId = options?.clientId ?? opts.clients[0]?.clientId ?? ""
        if (!clients.has(clientId)) {
          return yield* new FakeAuthorizationError({ reason: "InvalidClient", description: "unknown client_id" })
        }
        const scope = options?.scope ?? opts.scopes
        return yield* transact((tx, now) =>
          Effect.gen(function*() {
            const grantId = yield* newGrant(tx, now, clientId, options?.user ?? opts.defaultUser, scope)
            const issued = yield* issueTokens(tx, now, grantId, scope, opts.tokenBytes)
            return {
              grantId,
              accessToken: issued.accessToken,
              refreshToken: issued.refreshToken ?? "",
              expiresIn: Math.round(accessMillis / 1000),
              scope
            }
          })
        )
      }
    )

    const httpClient = HttpClient.make((request) => handle(request))

    const service: FakeAuthorizationServer.Service = {
      options: opts,
      endpoints: urls,
      handle,
      httpClient,
      approve,
      deny,
      prompt,
      issueGrant,
      inject: (fault) => Ref.update(faultsRef, (queue) => [...queue, { fault, remaining: fault.times ?? 1 }]),
      pendingFaults: Effect.map(Ref.get(faultsRef), (queue) => queue.map(({ fault }) => fault)),
      clearFaults: Ref.set(faultsRef, []),
      requests: Ref.get(logRef),
      counters: Effect.map(Ref.get(logRef), (entries) => ({
        authorize: entries.filter((e) => e.endpoint === "authorize").length,
        token: entries.filter((e) => e.endpoint === "token").length,
        authorizationCode: entries.filter((e) => e.endpoint === "token" && e.grantType === "authorization_code")
          .length,
        refreshToken: entries.filter((e) => e.endpoint === "token" && e.grantType === "refresh_token").length,
        revoke: entries.filter((e) => e.endpoint === "revoke").length,
        api: entries.filter((e) => e.endpoint === "api").length,
        reusedRefreshTokens: entries.filter((e) => e.reusedRefreshToken).length
      })),
      clearLog: Ref.set(logRef, []),
      reset: Effect.all([SynchronizedRef.set(stateRef, emptyState()), Ref.set(logRef, []), Ref.set(faultsRef, [])], {
        discard: true
      }),
      isAccessTokenValid: (token) => read((state, now) => accessTokenValid(state, now, token) !== undefined),
      isRefreshTokenValid: (token) =>
        read((state, now) => {
          const record = state.refreshTokens.get(token)
          if (record === undefined || record.revokedAt !== undefined || record.rotatedAt !== undefined) return false
          const grant = state.grants.get(record.grantId)
          return grant !== undefined && grant.revokedAt === undefined && now < record.expiresAt
        }),
      grants: read((state) =>
        Array.from(state.grants.values(), (grant): Grant => ({
          id: grant.id,
          clientId: grant.clientId,
          user: grant.user,
          scope: grant.scope,
          createdAt: grant.createdAt,
          revoked: grant.revokedAt !== undefined,
          refreshToken: grant.refreshToken,
          accessTokens: grant.accessTokens,
          refreshTokens: grant.refreshTokens
        }))
      ),
      revokeAll: (user) =>
        transact((tx, now) =>
          Effect.sync(() => {
            for (const grant of tx.grants.values()) {
              if (user === undefined || grant.user === user) revokeGrant(tx, grant.id, now)
            }
          })
        )
    }
    return service
  })

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * The fake server with fresh state.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options?: Partial<Options>): Layer.Layer<FakeAuthorizationServer> =>
  Layer.effect(FakeAuthorizationServer, make(options))

/**
 * An `HttpClient` that sends every request to the fake server in context (no sockets).
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
 * @since 0.1.0
 * @category utils
 */
export const basicAuthorization = (clientId: string, clientSecret: string): string => {
  const encode = (value: string) => new URLSearchParams([["", value]]).toString().slice(1)
  return `Basic ${btoa(`${encode(clientId)}:${encode(clientSecret)}`)}`
}

/**
 * The RFC 7636 S256 code challenge of a verifier.
 *
 * @since 0.1.0
 * @category utils
 */
export const s256Challenge = (verifier: string): string => internal.s256(verifier)
