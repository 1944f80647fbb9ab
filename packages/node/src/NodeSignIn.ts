/**
 * Sign-in routes for an `@effect/platform` `HttpRouter` app: `GET /login` sends the browser to the
 * authorization server, `GET /callback` checks the answer, exchanges the code once and saves the tokens
 * with `AccessTokens`, `POST /logout` revokes and removes them. A session cookie carries the
 * `AccessTokens` key of the signed-in browser; `currentKey` reads it in the application's own routes.
 *
 * - The pending authorization waits in an encrypted cookie (`pendingStorage: "cookie"`, the default) or
 *   in the `PendingAuthorizations` store (`"store"`), where only its state is in the cookie, which binds the
 *   callback to the browser that started the sign-in (RFC 6749 §10.12).
 * - Cookies are sealed with AES-256-GCM under a key id: the first of `cookieKeys` seals, all open, so a
 *   key rotates by putting a new one first. They are `HttpOnly`, `SameSite=Lax` and `Secure` unless the
 *   request is for a loopback host (127.0.0.0/8, ::1, localhost).
 * - `returnTo` is a path on this site or a URL on one of `origins`, decided after normalisation (dot
 *   segments, encoded and back slashes, case); anything else returns to `defaultReturnTo` (SPEC S37).
 * - Every key and option is checked when the layer is built: a bad one fails it with `InvalidConfig`
 *   (SPEC S39). The callback route is the path of the redirect URI.
 * - A callback is used at most once (SPEC S40): with `pendingStorage: "store"` the pending authorization
 *   is taken from the store once; with cookies, a record keyed by a digest of the state is written to the
 *   `TokenStore` (when one is in context) before the code is sent, so a replay on another instance
 *   sharing the store, or after a restart with a durable store, is refused without a token request. With
 *   memory stores only, a replay after a restart reaches the provider, whose single-use code is then the
 *   only backstop.
 * - `POST /logout` is refused unless `Sec-Fetch-Site` is `same-origin` or `Origin` is this site; `GET`
 *   answers 405.
 * - Failures are pages (or JSON for `Accept: application/json`) that name the error's tag and say what
 *   the user can do, 400 for callback problems and 502 for the authorization server's: never a stack
 *   trace or a secret. The operator gets a `Warning` log line with the reason, the OAuth error code and
 *   the HTTP status; started and completed sign-ins are logged at `Debug`, with `oauth.key`.
 *
 * Next to it: `NodeSignInAuthentication` (the same sign-in as `HttpApi` middleware), `NodeSignInFailure`
 * (what a sign-in fails with, and its default page) and `NodeSignInRequest` (the `returnTo` rule and the
 * loopback test the routes apply).
 *
 * @since 0.1.0
 */
import type { OAuthClient, PendingAuthorizations, TokenSet } from "@effect-oauth/core"
import type { AccessTokens, OAuthConfig } from "@effect-oauth/core"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Arr from "effect/Array"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/signIn.js"
import * as SignInConfig from "./internal/signInConfig.js"
import * as Pages from "./internal/signInPages.js"
import type * as NodeSignInFailure from "./NodeSignInFailure.js"

/**
 * A key that seals and opens cookies. `secret` is 32 random bytes in base64 or base64url
 * (`openssl rand -base64 32`), or a passphrase of at least 16 characters (stretched with PBKDF2-SHA256,
 * 600 000 iterations, once per process). `id` (1–64 characters of `A-Z a-z 0-9 _ -`) is written in
 * every cookie, so that the right key opens it.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { Redacted } from "effect"
 *
 * // The new key seals; the old one still opens the cookies it sealed.
 * const cookieKeys: readonly [NodeSignIn.CookieKey, ...Array<NodeSignIn.CookieKey>] = [
 *   { id: "2026-11", secret: Redacted.make("bmV3LWtleS0zMi1ieXRlcy1iYXNlNjQtLS0tLS0tLS0=") },
 *   { id: "2026-05", secret: Redacted.make("an old passphrase, 16+ characters") }
 * ]
 * const SignInLive = NodeSignIn.layer({ cookieKeys })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface CookieKey {
  readonly id: string
  readonly secret: Redacted.Redacted<string>
}

/**
 * Where a pending authorization waits for its callback.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { Redacted } from "effect"
 *
 * // Behind a load balancer with a shared `PendingAuthorizations` store (say `SqlPendingAuthorizations`).
 * const pendingStorage: NodeSignIn.PendingStorage = "store"
 * const SignInLive = NodeSignIn.layer({
 *   cookieKeys: [{ id: "k1", secret: Redacted.make(process.env.COOKIE_KEY ?? "") }],
 *   pendingStorage
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type PendingStorage = "cookie" | "store"

/**
 * @example
 * ```ts
 * import type { TokenSet } from "@effect-oauth/core"
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpClient, type HttpClientError, HttpClientRequest, HttpClientResponse } from "@effect/platform"
 * import { Effect, type ParseResult, Redacted, Schema } from "effect"
 *
 * // Keep the tokens under the provider's user id rather than a random session id.
 * const whoami = (tokens: TokenSet.TokenSet) =>
 *   Effect.flatMap(HttpClient.HttpClient, (http) =>
 *     http.execute(HttpClientRequest.get("https://api.example.com/whoami").pipe(
 *       HttpClientRequest.bearerToken(tokens.accessToken)
 *     ))).pipe(
 *       Effect.flatMap(HttpClientResponse.schemaBodyJson(Schema.Struct({ id: Schema.String }))),
 *       Effect.map(({ id }) => `user:${id}`),
 *       Effect.scoped
 *     )
 *
 * const options: NodeSignIn.Options<HttpClientError.HttpClientError | ParseResult.ParseError, HttpClient.HttpClient> = {
 *   cookieKeys: [{ id: "k1", secret: Redacted.make(process.env.COOKIE_KEY ?? "") }],
 *   paths: { login: "/auth/login", logout: "/auth/logout" },
 *   defaultReturnTo: "/dashboard",
 *   origins: ["https://app.example.com"],
 *   sessionLifetime: "7 days",
 *   authorize: { scopes: ["openid", "email"] },
 *   key: whoami
 * }
 * const SignInLive = NodeSignIn.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<E = never, R = never> {
  /** Keys of the cookies: the first seals, every one opens. Checked when the layer is built. */
  readonly cookieKeys: Arr.NonEmptyReadonlyArray<CookieKey>
  /** Default `"cookie"`; `"store"` needs `PendingAuthorizations`. */
  readonly pendingStorage?: PendingStorage | undefined
  /**
   * Route paths; defaults `/login`, the redirect URI's path, `/logout`. A callback path that is not the
   * redirect URI's fails the layer.
   */
  readonly paths?: {
    readonly login?: `/${string}` | undefined
    readonly callback?: `/${string}` | undefined
    readonly logout?: `/${string}` | undefined
  } | undefined
  /** Where a sign-in returns when `returnTo` is missing or not allowed; default `/`. */
  readonly defaultReturnTo?: string | undefined
  /** Where `POST /logout` sends the browser (303); default `/`. */
  readonly afterLogout?: string | undefined
  /**
   * This application's public origins, such as `https://app.example.com`: allowed as absolute `returnTo`
   * targets and as the `Origin` of `POST /logout` (needed behind a proxy that rewrites `Host`).
   */
  readonly origins?: ReadonlyArray<string> | undefined
  /** Name of the pending-authorization cookie; default `oauth_pending`. */
  readonly pendingCookie?: string | undefined
  /** Name of the session cookie; default `oauth_session` (the one `NodeSignInAuthentication` reads). */
  readonly sessionCookie?: string | undefined
  /** How long a session cookie lasts; default 30 days. */
  readonly sessionLifetime?: Duration.DurationInput | undefined
  /** Overrides the `Secure` attribute; default: set unless the request is for a loopback host. */
  readonly secureCookies?: boolean | undefined
  /**
   * The `AccessTokens` key of a new sign-in, such as the provider's user id from a whoami call; default:
   * a new random session id. The key is kept in the session cookie either way. Its requirements are taken
   * when the layer is built; a failure shows the user a 502 page and is logged.
   */
  readonly key?:
    | ((tokens: TokenSet.TokenSet, request: HttpServerRequest.HttpServerRequest) => Effect.Effect<string, E, R>)
    | undefined
  /** Passed to `OAuthClient.authorize` (scopes, extra parameters). */
  readonly authorize?: OAuthClient.AuthorizeOptions | undefined
  /** Renders failures; default `NodeSignInFailure.render`. `Cache-Control: no-store` is added to what it returns. */
  readonly renderError?:
    | ((
      failure: NodeSignInFailure.Failure
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>)
    | undefined
}

/**
 * The paths of the routes.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { Effect } from "effect"
 *
 * // A link to the login route, wherever it was mounted.
 * const loginLink = Effect.map(NodeSignIn.NodeSignIn, (signIn) => {
 *   const paths: NodeSignIn.Paths = signIn.paths
 *   return `${paths.login}?returnTo=%2Freports`
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Paths extends internal.Paths {}

/**
 * What a signed-in request's handler is given: the `AccessTokens` key of its browser, and its tokens.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpClient, HttpClientRequest, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A handler that calls the provider's API as the signed-in user.
 * const me = Effect.gen(function*() {
 *   const user: NodeSignIn.User = yield* NodeSignIn.SignedIn
 *   const token = yield* user.accessToken
 *   const http = yield* HttpClient.HttpClient
 *   const response = yield* http.execute(
 *     HttpClientRequest.get("https://api.example.com/me").pipe(HttpClientRequest.bearerToken(token))
 *   )
 *   return HttpServerResponse.unsafeJson({ key: user.key, status: response.status })
 * })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface User {
  readonly key: string
  /** A valid access token of `key`, refreshed when due. */
  readonly accessToken: Effect.Effect<Redacted.Redacted<string>, AccessTokens.GetError>
  /** The valid token set of `key`. */
  readonly tokens: Effect.Effect<TokenSet.TokenSet, AccessTokens.GetError>
}

/**
 * The signed-in user of the current request, provided by {@link requireSignIn} and
 * `NodeSignInAuthentication.Authentication`.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const hello = Effect.map(NodeSignIn.SignedIn, (user) => HttpServerResponse.text(`signed in as ${user.key}`))
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/hello", NodeSignIn.requireSignIn(hello)))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class SignedIn extends Context.Tag("@effect-oauth/node/NodeSignIn/SignedIn")<SignedIn, User>() {}

/**
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { Effect, Option } from "effect"
 *
 * // The key in a session cookie's value, outside a request (say, a WebSocket upgrade).
 * const keyOfCookie = (sealed: string) =>
 *   Effect.flatMap(NodeSignIn.NodeSignIn, (signIn: NodeSignIn.Service) => signIn.openSession(sealed)).pipe(
 *     Effect.map(Option.getOrUndefined)
 *   )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `GET /login`, `GET /callback`, `POST /logout`. */
  readonly router: HttpRouter.HttpRouter
  /** The `AccessTokens` key of the signed-in browser, when its session cookie is valid. */
  readonly currentKey: Effect.Effect<Option.Option<string>, never, HttpServerRequest.HttpServerRequest>
  /** The key in a sealed session cookie's value, when it is valid. */
  readonly openSession: (sealed: string) => Effect.Effect<Option.Option<string>>
  /** The signed-in user of `key`. */
  readonly user: (key: string) => User
  readonly paths: Paths
  /** The session cookie's name. */
  readonly sessionCookie: string
}

/**
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpRouter } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // The application's routes with the sign-in routes.
 * const app = Effect.map(NodeSignIn.NodeSignIn, (signIn) => HttpRouter.empty.pipe(HttpRouter.concat(signIn.router)))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class NodeSignIn extends Context.Tag("@effect-oauth/node/NodeSignIn")<NodeSignIn, Service>() {}

/**
 * What the routes need besides the key function's requirements.
 *
 * @example
 * ```ts
 * import { AccessTokens, TokenStore } from "@effect-oauth/core"
 * import { NodeOAuth, NodeSignIn } from "@effect-oauth/node"
 * import { Layer, Redacted } from "effect"
 *
 * // `OAuthClient` and `AccessTokens` for the sign-in layer.
 * const RequirementsLive: Layer.Layer<NodeSignIn.Requirements, unknown> = AccessTokens.layer().pipe(
 *   Layer.provideMerge(TokenStore.layerMemory),
 *   Layer.provideMerge(NodeOAuth.layerCredal({
 *     clientId: "my-client-id",
 *     clientSecret: Redacted.make("my-client-secret"),
 *     redirectUri: "http://127.0.0.1:3000/callback"
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = OAuthClient.OAuthClient | AccessTokens.AccessTokens

/**
 * The sign-in routes and `currentKey` for `options`, checked now: a bad cookie key, origin, path, cookie
 * name or lifetime fails with `InvalidConfig` (SPEC S39), never at the first request. Passphrase keys
 * are stretched here, once.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect, Option, Redacted } from "effect"
 *
 * const app = Effect.gen(function*() {
 *   const signIn = yield* NodeSignIn.make({ cookieKeys: [{ id: "2025-01", secret: Redacted.make(process.env.COOKIE_KEY!) }] })
 *   return HttpRouter.empty.pipe(
 *     HttpRouter.get("/", Effect.map(signIn.currentKey, (key) => HttpServerResponse.text(Option.isSome(key) ? "hi" : "sign in"))),
 *     HttpRouter.concat(signIn.router)
 *   )
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export function make<E = never, R = never>(
  options: Options<E, R> & { readonly pendingStorage?: "cookie" | undefined }
): Effect.Effect<Service, OAuthConfig.InvalidConfig, Requirements | Scope.Scope | R>
export function make<E = never, R = never>(
  options: Options<E, R>
): Effect.Effect<
  Service,
  OAuthConfig.InvalidConfig,
  Requirements | PendingAuthorizations.PendingAuthorizations | Scope.Scope | R
>
export function make<E, R>(
  options: Options<E, R>
): Effect.Effect<
  Service,
  OAuthConfig.InvalidConfig,
  Requirements | PendingAuthorizations.PendingAuthorizations | Scope.Scope | R
> {
  return Effect.map(internal.make(options), NodeSignIn.of)
}

/**
 * `NodeSignIn` as a layer, checked when it is built (SPEC S39).
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { Redacted } from "effect"
 *
 * export const SignInLive = NodeSignIn.layer({
 *   cookieKeys: [{ id: "2026-11", secret: Redacted.make(process.env.COOKIE_KEY ?? "") }]
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layer<E = never, R = never>(
  options: Options<E, R> & { readonly pendingStorage?: "cookie" | undefined }
): Layer.Layer<NodeSignIn, OAuthConfig.InvalidConfig, Requirements | R>
export function layer<E = never, R = never>(
  options: Options<E, R>
): Layer.Layer<NodeSignIn, OAuthConfig.InvalidConfig, Requirements | PendingAuthorizations.PendingAuthorizations | R>
export function layer<E, R>(
  options: Options<E, R>
): Layer.Layer<NodeSignIn, OAuthConfig.InvalidConfig, Requirements | PendingAuthorizations.PendingAuthorizations | R> {
  return Layer.scoped(NodeSignIn, make(options))
}

/**
 * Cookie keys from one variable, read as `Config.redacted`: `id:secret`, comma-separated, the sealing key
 * first (`OAUTH_COOKIE_KEYS=2026-11:<openssl rand -base64 32>,2026-05:<older key>`). A value without an
 * id is one key with the id `default`. The secret never appears in a configuration error.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { ConfigProvider, Effect, Redacted } from "effect"
 *
 * const env = ConfigProvider.fromMap(new Map([["OAUTH_COOKIE_KEYS", "2026-11:new-secret-0123456789,2026-05:old-secret-0123456789"]]))
 * const keys = Effect.runSync(Effect.withConfigProvider(NodeSignIn.cookieKeysConfig(), env))
 * assert.deepStrictEqual(keys.map((key) => key.id), ["2026-11", "2026-05"])
 * assert.strictEqual(Redacted.value(keys[0].secret), "new-secret-0123456789")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const cookieKeysConfig: (name?: string) => Config.Config<Arr.NonEmptyReadonlyArray<CookieKey>> =
  SignInConfig.cookieKeysConfig

/**
 * The options of {@link layerConfig}: those of {@link layer}, with the cookie keys (and origins) from
 * `Config`.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { Config } from "effect"
 *
 * const options: NodeSignIn.ConfigOptions = {
 *   cookieKeys: NodeSignIn.cookieKeysConfig("SESSION_KEYS"),
 *   origins: Config.array(Config.string(), "PUBLIC_ORIGINS"),
 *   defaultReturnTo: "/home"
 * }
 * const SignInLive = NodeSignIn.layerConfig(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ConfigOptions<E = never, R = never> extends Omit<Options<E, R>, "cookieKeys" | "origins"> {
  /** Default {@link cookieKeysConfig}`()`: the variable `OAUTH_COOKIE_KEYS`. */
  readonly cookieKeys?: Config.Config<Arr.NonEmptyReadonlyArray<CookieKey>> | undefined
  /** Default: none. */
  readonly origins?: Config.Config<ReadonlyArray<string>> | undefined
}

/**
 * `NodeSignIn` with its cookie keys (and origins) read from `Config` when the layer is built: a missing
 * or bad key fails the layer with a `ConfigError` or `InvalidConfig` (SPEC S39).
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { ConfigProvider, Layer } from "effect"
 *
 * // OAUTH_COOKIE_KEYS=2026-11:<openssl rand -base64 32> in production; a map here.
 * const env = ConfigProvider.fromMap(new Map([["OAUTH_COOKIE_KEYS", "2026-11:a-passphrase-of-16-characters"]]))
 * const SignInLive = NodeSignIn.layerConfig({ defaultReturnTo: "/home" }).pipe(
 *   Layer.provide(Layer.setConfigProvider(env))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export function layerConfig<E = never, R = never>(
  options?: ConfigOptions<E, R> & { readonly pendingStorage?: "cookie" | undefined }
): Layer.Layer<NodeSignIn, OAuthConfig.InvalidConfig | ConfigError.ConfigError, Requirements | R>
export function layerConfig<E = never, R = never>(
  options: ConfigOptions<E, R>
): Layer.Layer<
  NodeSignIn,
  OAuthConfig.InvalidConfig | ConfigError.ConfigError,
  Requirements | PendingAuthorizations.PendingAuthorizations | R
>
export function layerConfig<E, R>(
  options: ConfigOptions<E, R> = {}
): Layer.Layer<
  NodeSignIn,
  OAuthConfig.InvalidConfig | ConfigError.ConfigError,
  Requirements | PendingAuthorizations.PendingAuthorizations | R
> {
  return Layer.scoped(NodeSignIn, Effect.map(SignInConfig.makeConfig(options), NodeSignIn.of))
}

/**
 * The `AccessTokens` key of the signed-in browser of the current request.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect, Option } from "effect"
 *
 * // A page that works signed in or not.
 * const home = Effect.map(NodeSignIn.currentKey, (key) =>
 *   HttpServerResponse.text(Option.match(key, { onNone: () => "Welcome, guest", onSome: (key) => `Welcome back (${key})` })))
 * const routes = HttpRouter.empty.pipe(HttpRouter.get("/", home))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const currentKey: Effect.Effect<Option.Option<string>, never, NodeSignIn | HttpServerRequest.HttpServerRequest> =
  Effect.flatMap(NodeSignIn, (signIn) => signIn.currentKey)

/**
 * The sign-in routes of the `NodeSignIn` in context, to `HttpRouter.concat` into an application.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const app = Effect.map(NodeSignIn.router, (signInRoutes) =>
 *   HttpRouter.empty.pipe(HttpRouter.get("/health", HttpServerResponse.text("ok")), HttpRouter.concat(signInRoutes)))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const router: Effect.Effect<HttpRouter.HttpRouter, never, NodeSignIn> = Effect.map(
  NodeSignIn,
  (signIn) => signIn.router
)

/**
 * HttpRouter middleware (for a route or, with `HttpRouter.use`, a router): runs `handler` with the {@link SignedIn}
 * user of the session cookie. With no valid session, or when `handler` fails with `ReauthorizationRequired` for
 * that key (its tokens are gone), a `GET` for HTML goes to the login route and back, anything else gets 401 JSON.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * export const routes = HttpRouter.empty.pipe(
 *   HttpRouter.get("/me", NodeSignIn.requireSignIn(Effect.map(NodeSignIn.SignedIn, (user) => HttpServerResponse.text(user.key))))
 * )
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const requireSignIn = <E, R>(
  handler: Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
): Effect.Effect<
  HttpServerResponse.HttpServerResponse,
  E,
  Exclude<R, SignedIn> | NodeSignIn | HttpServerRequest.HttpServerRequest
> =>
  Effect.gen(function*() {
    const signIn = yield* NodeSignIn
    const request = yield* HttpServerRequest.HttpServerRequest
    const key = yield* signIn.currentKey.pipe(Effect.provideService(HttpServerRequest.HttpServerRequest, request))
    if (Option.isNone(key)) return Pages.unauthorized(signIn.paths.login, request)
    const signedIn = Effect.provideService(handler, SignedIn, signIn.user(key.value))
    return yield* internal.signedOutOn(signedIn, key.value, () => Pages.unauthorized(signIn.paths.login, request))
  })
