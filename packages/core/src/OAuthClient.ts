/**
 * The authorization code flow as typed effects: `authorize` builds the URL to send the user to,
 * `callback` checks what comes back, `exchange` trades the code for tokens, `refresh` uses a refresh
 * token once, `revoke` ends a grant.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as ConstantTime from "./ConstantTime.js"
import * as AuthorizationUrl from "./internal/authorizationUrl.js"
import * as CallbackParams from "./internal/callbackParams.js"
import * as Http from "./internal/http.js"
import * as Text from "./internal/text.js"
import * as UsedStates from "./internal/usedStates.js"
import { OAuthConfig } from "./OAuthConfig.js"
import * as OAuthConfigModule from "./OAuthConfig.js"
import type { ErrorResponse } from "./OAuthError.js"
import {
  AuthorizationDenied,
  HttpError,
  InvalidCallback,
  type InvalidIdToken,
  type InvalidTokenResponse,
  IssuerMismatch,
  ReauthorizationRequired,
  RefreshOutcomeUnknown,
  StateMismatch
} from "./OAuthError.js"
import { PendingAuthorization } from "./PendingAuthorization.js"
import * as Pkce from "./Pkce.js"
import { SecureRandom } from "./SecureRandom.js"
import * as ServerExchange from "./ServerExchange.js"
import * as TokenResponse from "./TokenResponse.js"
import * as TokenSet from "./TokenSet.js"
import { TokenValidator } from "./TokenValidator.js"

/**
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* OAuthClient.OAuthClient
 *   const authorizeOptions: OAuthClient.AuthorizeOptions = { scopes: ["read", "write"], params: { prompt: "consent" } }
 *   const { url } = yield* client.authorize(authorizeOptions)
 *   return [url.searchParams.get("scope"), url.searchParams.get("prompt")]
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), ["read write", "consent"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizeOptions {
  /** Overrides the configured scopes for this request. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** Overrides the configured redirect URI; the same value is sent to the token endpoint (SPEC S4). */
  readonly redirectUri?: string | undefined
  /** Extra parameters (`prompt`, `login_hint`…). They cannot replace the protocol's own parameters. */
  readonly params?: Readonly<Record<string, string>> | undefined
  /**
   * The OpenID Connect `max_age` in seconds (OpenID Connect Core §3.1.2.1): the ID Token's `auth_time`
   * is then checked. A `max_age` in `params` or the configured `authorizationParams` counts too.
   */
  readonly maxAge?: number | undefined
}

/**
 * The URL to send the user to, and the pending authorization to keep until the callback.
 *
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* OAuthClient.OAuthClient
 *   const request: OAuthClient.AuthorizationRequest = yield* client.authorize()
 *   // Send the user to `request.url`; keep `request.pending` until the callback.
 *   return request.url.searchParams.get("state") === Redacted.value(request.pending.state)
 * })
 * assert.strictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), true)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface AuthorizationRequest {
  readonly url: URL
  readonly pending: PendingAuthorization
}

/**
 * A callback as the application receives it: the full URL, its query string, or already parsed
 * parameters. Any other runtime value (a number, an array, a record of nested records as qs-style query
 * parsers produce) is an `InvalidCallback`, never a defect (SPEC S36).
 *
 * @example
 * ```ts
 * import type { OAuthClient } from "@effect-oauth/core"
 *
 * // The same callback, in each of the accepted forms.
 * const inputs: ReadonlyArray<OAuthClient.CallbackInput> = [
 *   new URL("https://app.example.com/oauth/callback?code=c1&state=s1"),
 *   "code=c1&state=s1",
 *   new URLSearchParams({ code: "c1", state: "s1" }),
 *   { code: "c1", state: "s1" }
 * ]
 * assert.strictEqual(inputs.length, 4)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type CallbackInput =
  | URL
  | string
  | URLSearchParams
  | Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/**
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* OAuthClient.OAuthClient
 *   const { pending } = yield* client.authorize()
 *   // The user said no at the authorization server.
 *   const callback = { error: "access_denied", state: Redacted.value(pending.state) }
 *   const error: OAuthClient.CallbackError = yield* Effect.flip(client.callback(callback, pending))
 *   return error._tag
 * })
 * assert.strictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), "AuthorizationDenied")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type CallbackError = AuthorizationDenied | StateMismatch | IssuerMismatch | InvalidCallback

/**
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* OAuthClient.OAuthClient
 *   const { pending } = yield* client.authorize()
 *   // A code the authorization server never issued.
 *   const error: OAuthClient.ExchangeError = yield* Effect.flip(client.exchange(Redacted.make("code-1"), pending))
 *   return error._tag === "ErrorResponse" ? error.error : error._tag
 * })
 * assert.strictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), "invalid_grant")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ExchangeError = ErrorResponse | InvalidTokenResponse | HttpError | InvalidIdToken

/**
 * @example
 * ```ts
 * import { OAuthError, type OAuthClient } from "@effect-oauth/core"
 *
 * const mustSignIn = (error: OAuthClient.RefreshError): boolean => error._tag === "ReauthorizationRequired"
 * assert.ok(mustSignIn(new OAuthError.ReauthorizationRequired({ reason: "refresh-token-rejected" })))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type RefreshError =
  | ErrorResponse
  | InvalidTokenResponse
  | HttpError
  | ReauthorizationRequired
  | RefreshOutcomeUnknown
  | InvalidIdToken

/**
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client: OAuthClient.Service = yield* OAuthClient.OAuthClient
 *   const { pending, url } = yield* client.authorize()
 *   // The user approves at the (fake) authorization server, which sends them back to the callback.
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const callback = yield* server.approve(url)
 *   const tokens = yield* client.complete(callback, pending)
 *   return Option.isSome(tokens.refreshToken)
 * })
 * assert.strictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), true)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly config: OAuthConfigModule.Resolved
  /** A fresh state and PKCE verifier, and the URL that carries them (SPEC S1, S3, S4, S5). */
  readonly authorize: (options?: AuthorizeOptions) => Effect.Effect<AuthorizationRequest>
  /** Checks a callback against its pending authorization; returns the code (SPEC S2, S6–S9). */
  readonly callback: (
    input: CallbackInput,
    pending: PendingAuthorization
  ) => Effect.Effect<Redacted.Redacted<string>, CallbackError>
  /** Sends the code to the token endpoint, once (SPEC S10–S16). */
  readonly exchange: (
    code: Redacted.Redacted<string>,
    pending: PendingAuthorization
  ) => Effect.Effect<TokenSet.TokenSet, ExchangeError>
  /** `callback` then `exchange`. */
  readonly complete: (
    input: CallbackInput,
    pending: PendingAuthorization
  ) => Effect.Effect<TokenSet.TokenSet, CallbackError | ExchangeError>
  /**
   * Uses a refresh token once. A rotated refresh token in the answer replaces the old one; an answer
   * without one keeps it (SPEC S17). A refresh token past its lifetime fails without a request (S24);
   * `invalid_grant` becomes `ReauthorizationRequired`; a lost answer is `RefreshOutcomeUnknown` (S22).
   */
  readonly refresh: (
    tokens: TokenSet.TokenSet | Redacted.Redacted<string>,
    options?: { readonly scopes?: ReadonlyArray<string> | undefined }
  ) => Effect.Effect<TokenSet.TokenSet, RefreshError>
  /**
   * Revokes a token at the revocation endpoint (RFC 7009): `"revoked"` on HTTP 200, `"unsupported"`
   * when no endpoint is configured. A 503 or a lost answer is retried a few times (SPEC S30).
   */
  readonly revoke: (
    token: Redacted.Redacted<string>,
    hint?: "refresh_token" | "access_token"
  ) => Effect.Effect<"revoked" | "unsupported", ErrorResponse | HttpError>
}

/**
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { OAuthTest } from "@effect-oauth/testing"
 * import { Effect, Redacted } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* OAuthClient.OAuthClient
 *   const tokens = yield* OAuthTest.signIn("ann")
 *   const refreshed = yield* client.refresh(tokens)
 *   return Redacted.value(refreshed.accessToken) !== Redacted.value(tokens.accessToken)
 * })
 * assert.strictEqual(await Effect.runPromise(program.pipe(Effect.provide(OAuthTest.layer()))), true)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class OAuthClient extends Context.Tag("@effect-oauth/core/OAuthClient")<OAuthClient, Service>() {}

/** How many used states a client remembers at most (SPEC S2); the oldest go first. */
const usedStatesCapacity = 100_000

const readCallback = (input: unknown): Effect.Effect<CallbackParams.CallbackParams, InvalidCallback> =>
  Either.match(CallbackParams.readAny(input), {
    onLeft: (reason) => Effect.fail(new InvalidCallback({ reason })),
    onRight: Effect.succeed
  })

/**
 * @example
 * ```ts
 * import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback"
 * }
 * // `authorize` sends no request.
 * const http = HttpClient.make(() => Effect.die("no request expected"))
 *
 * const program = Effect.gen(function*() {
 *   const client = yield* OAuthClient.make
 *   const { url } = yield* client.authorize()
 *   return url.searchParams.get("code_challenge_method")
 * }).pipe(Effect.provide(Layer.merge(OAuthConfig.layer(options), Layer.succeed(HttpClient.HttpClient, http))))
 * assert.strictEqual(await Effect.runPromise(program), "S256")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<Service, never, OAuthConfig | HttpClient.HttpClient> = Effect.gen(function*() {
  const config = yield* OAuthConfig
  const random = yield* SecureRandom
  // The one client of every exchange with the authorization server: one deadline each (SPEC S32).
  const server = ServerExchange.make(
    HttpClient.mapRequest(yield* HttpClient.HttpClient, HttpClientRequest.acceptJson),
    { timeout: config.requestTimeout }
  )
  // States that have been used, until their pending authorization expires (SPEC S2, S9).
  const used = UsedStates.make(usedStatesCapacity)
  const validator = yield* TokenValidator
  // Token and revocation requests, authenticated as this client.
  const formPost = Http.makeFormPost(config)

  const authorize = Effect.fn("OAuthClient.authorize")(function*(options?: AuthorizeOptions) {
    const now = yield* DateTime.now
    const state = Redacted.make(Encoding.encodeBase64Url(yield* random.bytes(32)))
    const verifier = config.pkce
      ? Option.some(yield* Effect.provideService(Pkce.makeVerifier, SecureRandom, random))
      : Option.none()
    const scopes = options?.scopes ?? config.scopes
    const redirectUri = options?.redirectUri ?? config.redirectUri
    // OpenID Connect Core §3.1.2.1: a nonce binds the ID Token to this request.
    const nonce = scopes.includes("openid")
      ? Option.some(Redacted.make(Encoding.encodeBase64Url(yield* random.bytes(32))))
      : Option.none()
    const challenge = Option.isSome(verifier) ? Option.some(yield* Pkce.challenge(verifier.value)) : Option.none()
    const { maxAge, url } = AuthorizationUrl.make(config, {
      redirectUri,
      scopes,
      state: Redacted.value(state),
      nonce: Option.map(nonce, Redacted.value),
      challenge,
      maxAge: options?.maxAge,
      params: options?.params
    })
    const pending = new PendingAuthorization({
      state,
      codeVerifier: verifier,
      redirectUri,
      issuer: config.issuer,
      scopes,
      createdAt: now,
      expiresAt: DateTime.addDuration(now, config.authorizationLifetime),
      nonce,
      maxAge
    })
    return { url, pending }
  })

  const consume = (state: string, pending: PendingAuthorization, now: number) =>
    Effect.sync(() => used.use(state, DateTime.toEpochMillis(pending.expiresAt), now))

  const callback = Effect.fn("OAuthClient.callback")(
    function*(input: CallbackInput | unknown, pending: PendingAuthorization) {
      const params = yield* readCallback(input)
      if (params.state === undefined) return yield* new StateMismatch({ reason: "missing" })
      if (!ConstantTime.equals(params.state, Redacted.value(pending.state))) {
        return yield* new StateMismatch({ reason: "mismatch" })
      }
      const now = yield* DateTime.now
      if (pending.isExpired(now)) return yield* new StateMismatch({ reason: "expired" })
      if (!(yield* consume(params.state, pending, DateTime.toEpochMillis(now)))) {
        return yield* new StateMismatch({ reason: "reused" })
      }
      // Text in the callback was chosen by whoever sent it: bounded, without controls, never the state (S34).
      const secrets = [params.state]
      if (Option.isSome(pending.issuer)) {
        if (params.iss !== undefined ? params.iss !== pending.issuer.value : config.requireIssuerParameter) {
          const received = Text.sanitize(params.iss, secrets)
          return yield* new IssuerMismatch({
            expected: pending.issuer.value,
            ...(received === undefined ? {} : { received })
          })
        }
      }
      if (params.error !== undefined) {
        const description = Text.sanitize(params.error_description, secrets)
        const uri = Text.sanitize(params.error_uri, secrets)
        return yield* new AuthorizationDenied({
          error: Text.sanitize(params.error, secrets) ?? "",
          ...(description === undefined ? {} : { description }),
          ...(uri === undefined ? {} : { uri })
        })
      }
      if (params.code === undefined || params.code.length === 0) {
        return yield* new InvalidCallback({ reason: "it carries neither a code nor an error" })
      }
      return Redacted.make(params.code)
    }
  )

  const tokenRequest = (params: Record<string, string>) => {
    const { request, secrets } = formPost(config.tokenEndpoint, params)
    return server.execute(request, "token").pipe(
      Effect.flatMap((response) => ServerExchange.jsonObject(response, "token", secrets)),
      Effect.flatMap((body) =>
        Effect.map(TokenResponse.decode(body), (response) => ({
          response,
          extraFields: TokenResponse.extraFields(body)
        }))
      )
    )
  }

  const toTokenSet = (
    response: TokenResponse.TokenResponse,
    options: Omit<TokenSet.FromResponseOptions, "defaultLifetime" | "refreshTokenLifetime" | "maxLifetime">
  ) =>
    TokenSet.fromResponse(response, {
      ...options,
      defaultLifetime: config.defaultAccessTokenLifetime,
      refreshTokenLifetime: config.refreshTokenLifetime,
      maxLifetime: config.maxAccessTokenLifetime ?? TokenSet.defaultMaxLifetime
    })

  const exchange = Effect.fn("OAuthClient.exchange")(
    function*(code: Redacted.Redacted<string>, pending: PendingAuthorization) {
      const sentAt = yield* DateTime.now
      const { extraFields, response } = yield* tokenRequest({
        grant_type: "authorization_code",
        code: Redacted.value(code),
        redirect_uri: pending.redirectUri,
        ...Option.match(pending.codeVerifier, {
          onNone: () => ({}),
          onSome: (verifier) => ({ code_verifier: Redacted.value(verifier) })
        })
      })
      const tokens = toTokenSet(response, { sentAt, requestedScopes: pending.scopes, extraFields })
      yield* validator.exchange(tokens, pending)
      return tokens
    }
  )

  const complete = (input: CallbackInput, pending: PendingAuthorization) =>
    Effect.flatMap(callback(input, pending), (code) => exchange(code, pending))

  const refresh = Effect.fn("OAuthClient.refresh")(
    function*(
      tokens: TokenSet.TokenSet | Redacted.Redacted<string>,
      options?: { readonly scopes?: ReadonlyArray<string> | undefined }
    ) {
      const sentAt = yield* DateTime.now
      const previous = tokens instanceof TokenSet.TokenSet ? tokens : undefined
      const refreshToken = tokens instanceof TokenSet.TokenSet ? tokens.refreshToken : Option.some(tokens)
      if (Option.isNone(refreshToken)) return yield* new ReauthorizationRequired({ reason: "no-refresh-token" })
      if (previous !== undefined && previous.refreshExpired(sentAt)) {
        return yield* new ReauthorizationRequired({ reason: "refresh-token-expired" })
      }
      const scopes = options?.scopes
      const { extraFields, response } = yield* tokenRequest({
        grant_type: "refresh_token",
        refresh_token: Redacted.value(refreshToken.value),
        ...(scopes === undefined ? {} : { scope: scopes.join(" ") })
      }).pipe(
        Effect.catchIf(
          (error): error is HttpError & { reason: "Transport" | "Timeout" } =>
            error._tag === "HttpError" && (error.reason === "Transport" || error.reason === "Timeout"),
          (error) => new RefreshOutcomeUnknown({ reason: error.reason })
        ),
        Effect.catchIf(
          (error): error is ErrorResponse => error._tag === "ErrorResponse" && error.error === "invalid_grant",
          () => new ReauthorizationRequired({ reason: "refresh-token-rejected" })
        )
      )
      const refreshed = toTokenSet(response, {
        sentAt,
        requestedScopes: scopes ?? previous?.scopes ?? config.scopes,
        previous,
        previousRefreshToken: refreshToken.value,
        extraFields
      })
      yield* validator.refresh(refreshed, Option.fromNullable(previous))
      return refreshed
    }
  )

  const revokeOnce = (url: URL, token: Redacted.Redacted<string>, hint: string) => {
    const { request, secrets } = formPost(url, { token: Redacted.value(token), token_type_hint: hint })
    return Effect.flatMap(
      server.execute(request, "revocation"),
      (response): Effect.Effect<"revoked", HttpError | ErrorResponse> =>
        response.status === 200
          ? Effect.succeed("revoked" as const)
          : response.status === 503
          ? new HttpError({ endpoint: "revocation", reason: "Status", status: 503 })
          : Effect.flatMap(
            ServerExchange.jsonObject(response, "revocation", secrets),
            () => new HttpError({ endpoint: "revocation", reason: "Status", status: response.status })
          )
    )
  }

  const revoke = Effect.fn("OAuthClient.revoke")(
    function*(token: Redacted.Redacted<string>, hint: "refresh_token" | "access_token" = "refresh_token") {
      if (Option.isNone(config.revocationEndpoint)) return "unsupported" as const
      return yield* revokeOnce(config.revocationEndpoint.value, token, hint).pipe(
        Effect.retry({
          schedule: Schedule.exponential("200 millis").pipe(Schedule.intersect(Schedule.recurs(3))),
          while: (error) =>
            error._tag === "HttpError" &&
            (error.reason === "Transport" || error.reason === "Timeout" || error.status === 503)
        })
      )
    }
  )

  return OAuthClient.of({ config, authorize, callback, exchange, complete, refresh, revoke })
})

/**
 * @example
 * ```ts
 * import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback"
 * }
 * // Any HttpClient: the live one of @effect-oauth/node, or a fake in tests.
 * const http = HttpClient.make(() => Effect.die("no request expected"))
 *
 * const Client = OAuthClient.layer.pipe(
 *   Layer.provide(Layer.merge(OAuthConfig.layer(options), Layer.succeed(HttpClient.HttpClient, http)))
 * )
 * const program = Effect.map(OAuthClient.OAuthClient, (client) => client.config.clientId)
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, Client)), "my-client")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<OAuthClient, never, OAuthConfig | HttpClient.HttpClient> = Layer.effect(
  OAuthClient,
  make
)

/**
 * The client and its configuration from options, in one layer.
 *
 * @example
 * ```ts
 * import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback"
 * }
 * const http = HttpClient.make(() => Effect.die("no request expected"))
 *
 * // The client and its configuration: both are in context.
 * const Client = OAuthClient.layerWithConfig(options).pipe(Layer.provide(Layer.succeed(HttpClient.HttpClient, http)))
 * const program = Effect.gen(function*() {
 *   const config = yield* OAuthConfig.OAuthConfig
 *   const client = yield* OAuthClient.OAuthClient
 *   return config === client.config
 * })
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, Client)), true)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithConfig = (
  options: OAuthConfigModule.Options
): Layer.Layer<OAuthClient | OAuthConfig, OAuthConfigModule.InvalidConfig, HttpClient.HttpClient> =>
  Layer.provideMerge(layer, OAuthConfigModule.layer(options))
