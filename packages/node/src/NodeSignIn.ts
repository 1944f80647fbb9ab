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
 * - `returnTo` is a path on this site (a single leading `/`) or a URL on one of `origins`; anything else
 *   returns to `defaultReturnTo`.
 * - `POST /logout` is refused unless `Sec-Fetch-Site` is `same-origin` or `Origin` is this site; `GET`
 *   answers 405.
 * - Failures are pages (or JSON for `Accept: application/json`) that name the error's tag and explain it,
 *   400 for callback problems and 502 for the authorization server's: never a stack trace or a secret.
 *
 * @since 0.1.0
 */
import type { AccessTokens, OAuthClient, PendingAuthorizations, TokenSet } from "@effect-oauth/core"
import type * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Arr from "effect/Array"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as internal from "./internal/signIn.js"
import * as Pages from "./internal/signInPages.js"

/**
 * A key that seals and opens cookies. `secret` is 32 random bytes in base64 or base64url
 * (`openssl rand -base64 32`), or a passphrase of at least 16 characters (stretched with PBKDF2-SHA256,
 * 600 000 iterations, once per process). `id` (1–64 characters of `A-Z a-z 0-9 _ -`) is written in
 * every cookie, so that the right key opens it.
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
 * @since 0.1.0
 * @category models
 */
export type PendingStorage = "cookie" | "store"

/**
 * A failure shown to the user: the error's tag (or `CrossSiteRequest`, `MethodNotAllowed`), the HTTP
 * status, and a title and message that carry no secret.
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure extends Pages.Failure {}

/**
 * What a sign-in can fail with (rendered as a page, never raised to the router).
 *
 * @since 0.1.0
 * @category models
 */
export type SignInError = Pages.SignInError

/**
 * What a sign-out can fail with (rendered as a page).
 *
 * @since 0.1.0
 * @category models
 */
export type SignOutError = Pages.SignOutError

/**
 * @since 0.1.0
 * @category models
 */
export interface Options<E = never, R = never> {
  /** Keys of the cookies: the first seals, every one opens. */
  readonly cookieKeys: Arr.NonEmptyReadonlyArray<CookieKey>
  /** Default `"cookie"`; `"store"` needs `PendingAuthorizations`. */
  readonly pendingStorage?: PendingStorage | undefined
  /** Route paths; defaults `/login`, `/callback`, `/logout`. The callback path must be the redirect URI's. */
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
  /** Name of the session cookie; default `oauth_session`. */
  readonly sessionCookie?: string | undefined
  /** How long a session cookie lasts; default 30 days. */
  readonly sessionLifetime?: Duration.DurationInput | undefined
  /** Overrides the `Secure` attribute; default: set unless the request is for a loopback host. */
  readonly secureCookies?: boolean | undefined
  /**
   * The `AccessTokens` key of a new sign-in (a user id, say); default: a new random session id. The key is
   * kept in the session cookie either way. A failure of this effect is the router's error `E`.
   */
  readonly key?:
    | ((tokens: TokenSet.TokenSet, request: HttpServerRequest.HttpServerRequest) => Effect.Effect<string, E, R>)
    | undefined
  /** Passed to `OAuthClient.authorize` (scopes, extra parameters). */
  readonly authorize?: OAuthClient.AuthorizeOptions | undefined
  /** Renders failures; default {@link renderFailure}. `Cache-Control: no-store` is added to what it returns. */
  readonly renderError?:
    | ((
      failure: Failure
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>)
    | undefined
}

/**
 * The routes and the session reader of one configuration. Make it once: keys are derived at the first
 * request and kept.
 *
 * @since 0.1.0
 * @category models
 */
export interface SignIn<E, R> {
  /** `GET /login`, `GET /callback`, `POST /logout`. */
  readonly router: HttpRouter.HttpRouter<E, R>
  /** The `AccessTokens` key of the signed-in browser, when its session cookie is valid. */
  readonly currentKey: Effect.Effect<Option.Option<string>, never, HttpServerRequest.HttpServerRequest>
}

/**
 * What the routes need besides the key function's requirements.
 *
 * @since 0.1.0
 * @category models
 */
export type Requirements = OAuthClient.OAuthClient | AccessTokens.AccessTokens

/**
 * The sign-in routes and `currentKey` for `options`.
 *
 * @example
 * ```ts
 * import { NodeSignIn } from "@effect-oauth/node"
 * import { HttpRouter, HttpServerResponse } from "@effect/platform"
 * import { Effect, Option, Redacted } from "effect"
 *
 * const signIn = NodeSignIn.make({ cookieKeys: [{ id: "2025-01", secret: Redacted.make(process.env.COOKIE_KEY!) }] })
 * const app = HttpRouter.empty.pipe(
 *   HttpRouter.get("/", Effect.map(signIn.currentKey, (key) => HttpServerResponse.text(Option.isSome(key) ? "hi" : "sign in"))),
 *   HttpRouter.concat(signIn.router)
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export function make<E = never, R = never>(
  options: Options<E, R> & { readonly pendingStorage?: "cookie" | undefined }
): SignIn<E, Requirements | R>
export function make<E = never, R = never>(
  options: Options<E, R>
): SignIn<E, Requirements | PendingAuthorizations.PendingAuthorizations | R>
export function make<E, R>(
  options: Options<E, R>
): SignIn<E, Requirements | PendingAuthorizations.PendingAuthorizations | R> {
  return internal.make(options)
}

/**
 * The default rendering of a failure: a small HTML page, or JSON `{ error, title, message, login }` when
 * the request accepts `application/json` and not `text/html`.
 *
 * @since 0.1.0
 * @category utils
 */
export const renderFailure = (
  failure: Failure,
  request: HttpServerRequest.HttpServerRequest
): HttpServerResponse.HttpServerResponse => Pages.render(failure, request.headers["accept"])

/**
 * The `returnTo` a sign-in goes back to: a path with a single leading `/`, or an http(s) URL on one of
 * `origins`; anything else is `fallback`.
 *
 * @since 0.1.0
 * @category utils
 */
export const safeReturnTo: (input: string | undefined, origins: ReadonlyArray<string>, fallback: string) => string =
  internal.safeReturnTo

/**
 * Whether a request is for a loopback host (127.0.0.0/8, ::1, localhost), from its `Host` header or URL.
 *
 * @since 0.1.0
 * @category utils
 */
export const isLoopbackRequest = (request: HttpServerRequest.HttpServerRequest): boolean =>
  internal.isLoopbackHost(internal.requestHost(request))
