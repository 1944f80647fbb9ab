/**
 * The sign-in routes: GET login, GET callback, POST logout, and the session cookie.
 *
 * @internal
 */
import { AccessTokens, OAuthClient, PendingAuthorization, PendingAuthorizations } from "@effect-oauth/core"
import { OAuthConfig, OAuthError } from "@effect-oauth/core"
import type * as Cookies from "@effect/platform/Cookies"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import type * as Arr from "effect/Array"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Options } from "../NodeSignIn.js"
import * as Crypto from "./signInCrypto.js"
import * as Pages from "./signInPages.js"

/** @internal */
export type Requirements =
  | OAuthClient.OAuthClient
  | AccessTokens.AccessTokens
  | PendingAuthorizations.PendingAuthorizations

/** @internal */
export interface SignIn<E, R> {
  readonly router: HttpRouter.HttpRouter<E, R>
  readonly currentKey: Effect.Effect<Option.Option<string>, never, HttpServerRequest.HttpServerRequest>
}

// -----------------------------------------------------------------------------
// hosts, origins and returnTo
// -----------------------------------------------------------------------------

/** The host (`name[:port]`) the request was sent to: the `Host` header, else the request URL's. */
export const requestHost = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const header = request.headers["host"]
  const host = header !== undefined && header.length > 0
    ? header
    : URL.canParse(request.originalUrl)
    ? new URL(request.originalUrl).host
    : undefined
  if (host === undefined || !URL.canParse(`http://${host}`)) return undefined
  return new URL(`http://${host}`).host
}

/** A loopback host (127.0.0.0/8, ::1, localhost) is served without TLS, so cookies cannot be `Secure` there. */
export const isLoopbackHost = (host: string | undefined): boolean =>
  host !== undefined && URL.canParse(`http://${host}`) && OAuthConfig.isLoopbackHost(new URL(`http://${host}`).hostname)

const returnToBase = "http://return-to.invalid"

/** The longest `returnTo` kept; longer ones are replaced by the default (the cookie must stay small). */
export const maxReturnToLength = 1024

/**
 * A `returnTo` that cannot leave the application: a path starting with exactly one `/` (normalised, so
 * `/\evil`, `/%09/evil` tricks resolve on this origin or are refused), or an absolute http(s) URL on one
 * of `origins`. Anything else gives `fallback`.
 */
export const safeReturnTo = (
  input: string | undefined,
  origins: ReadonlyArray<string>,
  fallback: string
): string => {
  if (input === undefined || input.length === 0 || input.length > maxReturnToLength) return fallback
  // Control characters (which URL parsers drop) and backslashes (which they read as slashes) are refused.
  for (let i = 0; i < input.length; i++) {
    const code = input.charCodeAt(i)
    if (code < 0x20 || code === 0x7f || code === 0x5c) return fallback
  }
  if (input.startsWith("/")) {
    if (input.startsWith("//") || !URL.canParse(input, returnToBase)) return fallback
    const url = new URL(input, returnToBase)
    return url.origin === returnToBase ? url.pathname + url.search + url.hash : fallback
  }
  if (!URL.canParse(input)) return fallback
  const url = new URL(input)
  if ((url.protocol !== "https:" && url.protocol !== "http:") || url.username !== "" || url.password !== "") {
    return fallback
  }
  return origins.includes(url.origin) ? url.href : fallback
}

/**
 * POST /logout must come from this application (CSRF): `Sec-Fetch-Site: same-origin`, or else an
 * `Origin` that is one of `origins` or has the request's own host. A request with neither header is
 * refused.
 */
export const isSameOrigin = (request: HttpServerRequest.HttpServerRequest, origins: ReadonlyArray<string>): boolean => {
  const site = request.headers["sec-fetch-site"]
  if (site === "same-origin") return true
  const origin = request.headers["origin"]
  if (origin === undefined || origin === "null" || !URL.canParse(origin)) return false
  const parsed = new URL(origin)
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return false
  if (origins.includes(parsed.origin)) return true
  if (site !== undefined) return false
  const host = requestHost(request)
  return host !== undefined && parsed.host === host
}

// -----------------------------------------------------------------------------
// cookie payloads
// -----------------------------------------------------------------------------

/** What the pending cookie holds: the returnTo, and the pending authorization ("cookie") or its state ("store"). */
const PendingCookie = Schema.parseJson(Schema.Struct({
  returnTo: Schema.String,
  state: Schema.optional(Schema.Redacted(Schema.String)),
  pending: Schema.optional(PendingAuthorization.PendingAuthorization)
}))

/** What the session cookie holds: the AccessTokens key and when the session ends (epoch ms). */
const SessionCookie = Schema.parseJson(Schema.Struct({ key: Schema.String, expiresAt: Schema.Number }))

// -----------------------------------------------------------------------------
// routes
// -----------------------------------------------------------------------------

const noStore = { "cache-control": "no-store", "referrer-policy": "no-referrer" } as const

const stateMismatch = new OAuthError.StateMismatch({ reason: "mismatch" })

/** @internal */
export const make = <E, R>(options: Options<E, R>): SignIn<E, R | Requirements> => {
  const paths = {
    login: options.paths?.login ?? "/login",
    callback: options.paths?.callback ?? "/callback",
    logout: options.paths?.logout ?? "/logout"
  } as const
  const storage = options.pendingStorage ?? "cookie"
  const pendingName = options.pendingCookie ?? "oauth_pending"
  const sessionName = options.sessionCookie ?? "oauth_session"
  const sessionLifetime = Duration.decode(options.sessionLifetime ?? Duration.days(30))
  const defaultReturnTo = options.defaultReturnTo ?? "/"
  const afterLogout = options.afterLogout ?? "/"
  const origins = (options.origins ?? []).flatMap((origin) => URL.canParse(origin) ? [new URL(origin).origin] : [])
  const badOrigin = (options.origins ?? []).some((origin) => !URL.canParse(origin))

  // Keys are imported (or derived from passphrases, which is slow) once, at the first request.
  const keys: Effect.Effect<Arr.NonEmptyReadonlyArray<Crypto.DerivedKey>> = Effect.runSync(
    Effect.cached(
      Effect.orDie(
        badOrigin
          ? Effect.fail(new OAuthConfig.InvalidConfig({ field: "origins", reason: "must hold absolute URLs" }))
          : Crypto.deriveKeys(options.cookieKeys)
      )
    )
  )

  const cookieOptions = (request: HttpServerRequest.HttpServerRequest, path: string): Cookies.Cookie["options"] => ({
    httpOnly: true,
    sameSite: "lax",
    path,
    secure: options.secureCookies ?? !isLoopbackHost(requestHost(request))
  })

  const setCookie = (
    response: HttpServerResponse.HttpServerResponse,
    name: string,
    value: string,
    cookie: Cookies.Cookie["options"]
  ) => Effect.orDie(HttpServerResponse.setCookie(response, name, value, cookie))

  const callbackPath = (config: OAuthClient.Service["config"]) => {
    const uri = options.authorize?.redirectUri ?? config.redirectUri
    return URL.canParse(uri) ? new URL(uri).pathname : "/"
  }

  const renderFailure = (failure: Pages.Failure) =>
    Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
      options.renderError === undefined
        ? Effect.succeed(Pages.render(failure, request.headers["accept"]))
        : options.renderError(failure)).pipe(
        Effect.map(HttpServerResponse.setHeaders(noStore))
      )

  const readSession = (request: HttpServerRequest.HttpServerRequest) =>
    Effect.gen(function*() {
      const sealed = request.cookies[sessionName]
      if (sealed === undefined) return Option.none<string>()
      const opened = yield* Crypto.open(yield* keys, "session", sealed)
      if (Option.isNone(opened)) return Option.none<string>()
      const session = yield* Effect.option(Schema.decode(SessionCookie)(opened.value))
      const now = yield* Clock.currentTimeMillis
      return Option.isSome(session) && session.value.expiresAt > now ? Option.some(session.value.key) : Option.none()
    })

  const currentKey = Effect.flatMap(HttpServerRequest.HttpServerRequest, readSession)

  // GET login: authorize, keep the pending authorization, send the browser to the authorization server.
  const login = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const oauth = yield* OAuthClient.OAuthClient
    const query = new URL(request.url, returnToBase).searchParams.getAll("returnTo")
    const returnTo = safeReturnTo(query.length === 1 ? query[0] : undefined, origins, defaultReturnTo)
    const { pending, url } = yield* oauth.authorize(options.authorize)
    if (storage === "store") {
      const store = yield* PendingAuthorizations.PendingAuthorizations
      const put = yield* Effect.either(store.put(pending))
      if (Either.isLeft(put)) return yield* renderFailure(Pages.describe(put.left, paths.login))
    }
    const payload = yield* Effect.orDie(
      Schema.encode(PendingCookie)(
        storage === "store" ? { returnTo, state: pending.state } : { returnTo, pending }
      )
    )
    const sealed = yield* Crypto.seal(yield* keys, "pending", payload)
    const lifetime = Duration.millis(
      Math.max(0, DateTime.toEpochMillis(pending.expiresAt) - DateTime.toEpochMillis(pending.createdAt))
    )
    return yield* setCookie(
      HttpServerResponse.redirect(url, { status: 302, headers: noStore }),
      pendingName,
      sealed,
      { ...cookieOptions(request, callbackPath(oauth.config)), maxAge: lifetime }
    )
  })

  /** The pending authorization of this browser and callback, and where to return; a StateMismatch otherwise. */
  const findPending = (request: HttpServerRequest.HttpServerRequest, params: URLSearchParams) =>
    Effect.gen(function*() {
      const sealed = request.cookies[pendingName]
      if (sealed === undefined) return yield* stateMismatch
      const opened = yield* Crypto.open(yield* keys, "pending", sealed)
      if (Option.isNone(opened)) return yield* stateMismatch
      const cookie = yield* Effect.mapError(Schema.decode(PendingCookie)(opened.value), () => stateMismatch)
      const returnTo = safeReturnTo(cookie.returnTo, origins, defaultReturnTo)
      if (cookie.pending !== undefined) return { pending: cookie.pending, returnTo }
      // "store": the cookie binds the callback to this browser (RFC 6749 §10.12), the store holds the rest.
      const states = params.getAll("state")
      const state = states[0]
      if (state === undefined || states.length !== 1) return yield* new OAuthError.StateMismatch({ reason: "missing" })
      if (cookie.state === undefined || !Crypto.constantTimeEqual(state, Redacted.value(cookie.state))) {
        return yield* stateMismatch
      }
      const store = yield* PendingAuthorizations.PendingAuthorizations
      const pending = yield* store.take(state)
      if (Option.isNone(pending)) return yield* stateMismatch
      return { pending: pending.value, returnTo }
    })

  // GET callback: check it, exchange the code once, save the tokens, start the session.
  const callback = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const oauth = yield* OAuthClient.OAuthClient
    const accessTokens = yield* AccessTokens.AccessTokens
    const clearPending = (response: HttpServerResponse.HttpServerResponse) =>
      HttpServerResponse.expireCookie(response, pendingName, cookieOptions(request, callbackPath(oauth.config)))
    const fail = (error: Pages.SignInError) =>
      Effect.map(renderFailure(Pages.describe(error, paths.login)), clearPending)
    const params = new URL(request.url, returnToBase).searchParams

    const completed = yield* Effect.either(
      Effect.flatMap(
        findPending(request, params),
        ({ pending, returnTo }) => Effect.map(oauth.complete(params, pending), (tokens) => ({ tokens, returnTo }))
      )
    )
    if (Either.isLeft(completed)) return yield* fail(completed.left)
    const { returnTo, tokens } = completed.right
    const key = options.key === undefined ? yield* Crypto.randomId : yield* options.key(tokens, request)
    const saved = yield* Effect.either(accessTokens.save(key, tokens))
    if (Either.isLeft(saved)) return yield* fail(saved.left)

    const now = yield* Clock.currentTimeMillis
    const session = yield* Schema.encode(SessionCookie)({
      key,
      expiresAt: now + Duration.toMillis(sessionLifetime)
    }).pipe(Effect.orDie)
    return yield* setCookie(
      clearPending(HttpServerResponse.redirect(returnTo, { status: 302, headers: noStore })),
      sessionName,
      yield* Crypto.seal(yield* keys, "session", session),
      { ...cookieOptions(request, "/"), maxAge: sessionLifetime }
    )
  })

  // POST logout: same-origin only; revoke and remove the tokens, end the session.
  const logout = Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    if (request.method !== "POST") {
      return yield* Effect.map(
        renderFailure({
          tag: "MethodNotAllowed",
          status: 405,
          title: "Method not allowed",
          message: "Signing out needs a POST request, such as a form with a button.",
          loginPath: paths.login,
          error: undefined
        }),
        HttpServerResponse.setHeader("allow", "POST")
      )
    }
    if (!isSameOrigin(request, origins)) {
      return yield* renderFailure({
        tag: "CrossSiteRequest",
        status: 403,
        title: "Sign-out refused",
        message: "A sign-out request must come from a page of this application.",
        loginPath: paths.login,
        error: undefined
      })
    }
    const key = yield* readSession(request)
    if (Option.isSome(key)) {
      const accessTokens = yield* AccessTokens.AccessTokens
      const signedOut = yield* Effect.either(accessTokens.signOut(key.value))
      // A failed revocation keeps the tokens and the session, so that signing out can be tried again (SPEC S30).
      if (Either.isLeft(signedOut)) {
        return yield* renderFailure(Pages.describe(signedOut.left, paths.login, "sign-out"))
      }
    }
    return HttpServerResponse.expireCookie(
      HttpServerResponse.redirect(afterLogout, { status: 303, headers: noStore }),
      sessionName,
      cookieOptions(request, "/")
    )
  })

  const router = HttpRouter.empty.pipe(
    HttpRouter.get(paths.login, login),
    // The code is spent once sent: a browser that goes away must not interrupt the exchange and the save.
    HttpRouter.get(paths.callback, callback, { uninterruptible: true }),
    HttpRouter.all(paths.logout, logout)
  )
  return { router, currentKey }
}
