/**
 * The sign-in routes: GET login, GET callback, POST logout, and the session cookie.
 *
 * @internal
 */
import { AccessTokens, OAuthClient, OAuthError, PendingAuthorization, PendingAuthorizations } from "@effect-oauth/core"
import { OAuthConfig, TokenSet, TokenStore } from "@effect-oauth/core"
import type * as Cookies from "@effect/platform/Cookies"
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { Options as PublicOptions, User } from "../NodeSignIn.js"
import * as Crypto from "./signInCrypto.js"
import * as Pages from "./signInPages.js"
import { maxReturnToLength, safeReturnTo } from "./signInReturnTo.js"

export { maxReturnToLength, safeReturnTo }

/** @internal */
export interface Paths {
  readonly login: `/${string}`
  readonly callback: `/${string}`
  readonly logout: `/${string}`
}

/** The public options, declared once in `NodeSignIn`. @internal */
export type Options<E, R> = PublicOptions<E, R>

/** @internal */
export interface Service {
  readonly router: HttpRouter.HttpRouter
  readonly currentKey: Effect.Effect<Option.Option<string>, never, HttpServerRequest.HttpServerRequest>
  readonly openSession: (sealed: string) => Effect.Effect<Option.Option<string>>
  readonly user: (key: string) => User
  readonly paths: Paths
  readonly sessionCookie: string
}

// -----------------------------------------------------------------------------
// hosts and origins
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

const requestBase = "http://request.invalid"

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
// configuration, checked when the layer is built (SPEC S39)
// -----------------------------------------------------------------------------

const invalid = (field: string, reason: string) => new OAuthConfig.InvalidConfig({ field, reason })

/** RFC 6265 cookie-name characters (a token). */
const cookieName = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/

/** The prefix of the records that mark a callback as used (SPEC S40), followed by the state's digest. */
export const callbackMarkerPrefix = "effect-oauth/signin-callback/"

/** The access token of a marker record: not a token, only a value the record schema accepts. */
const markerToken = "used-callback-marker"

interface Settings {
  readonly paths: Paths
  readonly storage: "cookie" | "store"
  readonly pendingName: string
  readonly sessionName: string
  readonly sessionLifetime: Duration.Duration
  readonly defaultReturnTo: string
  readonly afterLogout: string
  readonly origins: ReadonlyArray<string>
}

const checkOptions = <E, R>(
  options: Options<E, R>,
  config: OAuthConfig.Resolved
): Either.Either<Settings, OAuthConfig.InvalidConfig> => {
  const origins: Array<string> = []
  for (const origin of options.origins ?? []) {
    if (!URL.canParse(origin)) return Either.left(invalid("origins", "must hold absolute http(s) URLs"))
    const url = new URL(origin)
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      return Either.left(invalid("origins", "must hold absolute http(s) URLs"))
    }
    origins.push(url.origin)
  }
  const redirectUri = options.authorize?.redirectUri ?? config.redirectUri
  if (!URL.canParse(redirectUri)) return Either.left(invalid("redirectUri", "must be an absolute URL"))
  const derived = new URL(redirectUri).pathname
  const callback = options.paths?.callback ?? (derived.startsWith("/") ? derived as `/${string}` : "/")
  if (callback !== derived) {
    return Either.left(
      invalid("paths.callback", "must be the path of the redirect URI (leave it out to derive it from redirectUri)")
    )
  }
  const paths: Paths = {
    login: options.paths?.login ?? "/login",
    callback,
    logout: options.paths?.logout ?? "/logout"
  }
  for (const [name, path] of Object.entries(paths)) {
    if (!path.startsWith("/") || path.startsWith("//") || !URL.canParse(path, requestBase)) {
      return Either.left(invalid(`paths.${name}`, "must be a path starting with a single /"))
    }
  }
  if (new Set(Object.values(paths)).size !== 3) {
    return Either.left(invalid("paths", "login, callback and logout must be three different paths"))
  }
  const pendingName = options.pendingCookie ?? "oauth_pending"
  const sessionName = options.sessionCookie ?? "oauth_session"
  if (!cookieName.test(pendingName)) return Either.left(invalid("pendingCookie", "must be a cookie name (a token)"))
  if (!cookieName.test(sessionName)) return Either.left(invalid("sessionCookie", "must be a cookie name (a token)"))
  if (pendingName === sessionName) {
    return Either.left(invalid("sessionCookie", "must differ from the pending cookie's name"))
  }
  const lifetime = Duration.decodeUnknown(options.sessionLifetime ?? Duration.days(30))
  if (Option.isNone(lifetime) || !Duration.isFinite(lifetime.value) || Duration.toMillis(lifetime.value) <= 0) {
    return Either.left(invalid("sessionLifetime", "must be a positive, finite duration"))
  }
  const defaultReturnTo = options.defaultReturnTo ?? "/"
  if (safeReturnTo(defaultReturnTo, origins, "") !== defaultReturnTo) {
    return Either.left(invalid("defaultReturnTo", "must be a path on this site or a URL on one of origins"))
  }
  const afterLogout = options.afterLogout ?? "/"
  if (safeReturnTo(afterLogout, origins, "") !== afterLogout) {
    return Either.left(invalid("afterLogout", "must be a path on this site or a URL on one of origins"))
  }
  const storage = options.pendingStorage ?? "cookie"
  if (storage !== "cookie" && storage !== "store") {
    return Either.left(invalid("pendingStorage", "must be \"cookie\" or \"store\""))
  }
  return Either.right({
    paths,
    storage,
    pendingName,
    sessionName,
    sessionLifetime: lifetime.value,
    defaultReturnTo,
    afterLogout,
    origins
  })
}

// -----------------------------------------------------------------------------
// logging (never a secret: tags, reasons, error codes and statuses only)
// -----------------------------------------------------------------------------

/** A server- or browser-chosen code, bounded and stripped of anything but printable ASCII. */
const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, "").slice(0, 64)

/** What an operator needs to know about a failed sign-in or sign-out. */
export const failureAnnotations = (failure: Pages.Failure): Record<string, string | number> => {
  const annotations: Record<string, string | number> = { "oauth.reason": failure.tag, "http.status": failure.status }
  const error = failure.error
  if (error === undefined) return annotations
  switch (error._tag) {
    case "AuthorizationDenied":
      return { ...annotations, "oauth.error": printable(error.error) }
    case "ErrorResponse":
      return { ...annotations, "oauth.error": printable(error.error), "oauth.status": error.status }
    case "HttpError":
      return {
        ...annotations,
        "oauth.cause": error.reason,
        ...(error.status === undefined ? {} : { "oauth.status": error.status })
      }
    case "StateMismatch":
    case "TokenStoreError":
    case "PendingAuthorizationsError":
      return { ...annotations, "oauth.cause": error.reason }
    case "InvalidTokenResponse":
    case "IssuerMismatch":
    case "InvalidCallback":
    case "KeyFailed":
      return annotations
    case "InvalidIdToken":
      return { ...annotations, "oauth.cause": error.check }
    default: {
      const unhandled: never = error
      return unhandled
    }
  }
}

const logFailure = (message: string, failure: Pages.Failure) =>
  Effect.logWarning(message).pipe(Effect.annotateLogs(failureAnnotations(failure)))

// -----------------------------------------------------------------------------
// routes
// -----------------------------------------------------------------------------

const noStore = { "cache-control": "no-store", "referrer-policy": "no-referrer" } as const

const stateMismatch = new OAuthError.StateMismatch({ reason: "mismatch" })

/**
 * `effect`, where a `ReauthorizationRequired` for the signed-in `key` (its tokens are gone: signed out
 * elsewhere, revoked, or a store that lost them) answers as a request without a session would.
 */
export const signedOutOn = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  key: string,
  signedOut: () => A
): Effect.Effect<A, E, R> =>
  Effect.catchIf(
    effect,
    (error) => error instanceof OAuthError.ReauthorizationRequired && error.key === key,
    () => Effect.sync(signedOut)
  )

/** What building the sign-in needs, besides the requirements `R` of the application's hooks. @internal */
export type MakeRequirements<R> =
  | OAuthClient.OAuthClient
  | AccessTokens.AccessTokens
  | PendingAuthorizations.PendingAuthorizations
  | Scope.Scope
  | R

/** @internal */
export const make = <E, R>(
  options: Options<E, R>
): Effect.Effect<Service, OAuthConfig.InvalidConfig, MakeRequirements<R>> =>
  Effect.gen(function*() {
    const oauth = yield* OAuthClient.OAuthClient
    const accessTokens = yield* AccessTokens.AccessTokens
    const settings = yield* checkOptions(options, oauth.config)
    const { defaultReturnTo, origins, paths, pendingName, sessionName, sessionLifetime, storage } = settings
    const pendingStore = storage === "store"
      ? Option.some(yield* PendingAuthorizations.PendingAuthorizations)
      : Option.none()
    // With cookie-held pending authorizations, used callbacks are marked in the token store (SPEC S40).
    const tokenStore = yield* Effect.serviceOption(TokenStore.TokenStore)
    const keyContext = yield* Effect.context<R>()
    const scope = yield* Effect.scope
    // The layer's clock, so that sessions expire on the same clock wherever they are read.
    const clock = yield* Effect.clock
    // Keys are imported, or derived from passphrases, once: a bad key fails here (SPEC S39).
    const keys = yield* Crypto.deriveKeys(options.cookieKeys)

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

    const renderFailure = (failure: Pages.Failure) =>
      Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) =>
        options.renderError === undefined
          ? Effect.succeed(Pages.render(failure, request.headers["accept"]))
          : options.renderError(failure)).pipe(
          Effect.map(HttpServerResponse.setHeaders(noStore))
        )

    const openSession = (sealed: string) =>
      Effect.gen(function*() {
        const opened = yield* Crypto.open(keys, "session", sealed)
        if (Option.isNone(opened)) return Option.none<string>()
        const session = yield* Effect.option(Schema.decode(SessionCookie)(opened.value))
        const now = yield* clock.currentTimeMillis
        return Option.isSome(session) && session.value.expiresAt > now ? Option.some(session.value.key) : Option.none()
      })

    const readSession = (request: HttpServerRequest.HttpServerRequest) => {
      const sealed = request.cookies[sessionName]
      return sealed === undefined ? Effect.succeed(Option.none<string>()) : openSession(sealed)
    }

    const currentKey = Effect.flatMap(HttpServerRequest.HttpServerRequest, readSession)

    // GET login: authorize, keep the pending authorization, send the browser to the authorization server.
    const login = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const query = new URL(request.url, requestBase).searchParams.getAll("returnTo")
      const returnTo = safeReturnTo(query.length === 1 ? query[0] : undefined, origins, defaultReturnTo)
      const { pending, url } = yield* oauth.authorize(options.authorize)
      if (Option.isSome(pendingStore)) {
        const put = yield* Effect.either(pendingStore.value.put(pending))
        if (Either.isLeft(put)) {
          const failure = Pages.describe(put.left, paths.login)
          yield* logFailure("sign-in failed", failure)
          return yield* renderFailure(failure)
        }
      }
      const payload = yield* Effect.orDie(
        Schema.encode(PendingCookie)(
          storage === "store" ? { returnTo, state: pending.state } : { returnTo, pending }
        )
      )
      const sealed = yield* Crypto.seal(keys, "pending", payload)
      const lifetime = Duration.millis(
        Math.max(0, DateTime.toEpochMillis(pending.expiresAt) - DateTime.toEpochMillis(pending.createdAt))
      )
      yield* Effect.logDebug("sign-in started")
      return yield* setCookie(
        HttpServerResponse.redirect(url, { status: 302, headers: noStore }),
        pendingName,
        sealed,
        { ...cookieOptions(request, paths.callback), maxAge: lifetime }
      )
    })

    /** The pending authorization of this browser and callback, and where to return; a StateMismatch otherwise. */
    const findPending = (request: HttpServerRequest.HttpServerRequest, params: URLSearchParams) =>
      Effect.gen(function*() {
        const sealed = request.cookies[pendingName]
        if (sealed === undefined) return yield* stateMismatch
        const opened = yield* Crypto.open(keys, "pending", sealed)
        if (Option.isNone(opened)) return yield* stateMismatch
        const cookie = yield* Effect.mapError(Schema.decode(PendingCookie)(opened.value), () => stateMismatch)
        const returnTo = safeReturnTo(cookie.returnTo, origins, defaultReturnTo)
        if (cookie.pending !== undefined) return { pending: cookie.pending, returnTo, fromCookie: true }
        // "store": the cookie binds the callback to this browser (RFC 6749 §10.12), the store holds the rest.
        const states = params.getAll("state")
        const state = states[0]
        if (state === undefined || states.length !== 1) {
          return yield* new OAuthError.StateMismatch({ reason: "missing" })
        }
        if (cookie.state === undefined || !Crypto.constantTimeEqual(state, Redacted.value(cookie.state))) {
          return yield* stateMismatch
        }
        if (Option.isNone(pendingStore)) return yield* stateMismatch
        const pending = yield* pendingStore.value.take(state)
        if (Option.isNone(pending)) return yield* stateMismatch
        return { pending: pending.value, returnTo, fromCookie: false }
      })

    /**
     * Marks the callback of a cookie-held pending authorization as used, before its code is sent, in the
     * token store (SPEC S40): a record keyed by the state's digest, written only if there is none, so that
     * a replay on any instance sharing the store, or after a restart, is refused without a token request.
     * The record is removed once the code could not be used anyway.
     */
    const claimCallback = (pending: PendingAuthorization.PendingAuthorization) =>
      Effect.gen(function*() {
        if (Option.isNone(tokenStore)) return
        const store = tokenStore.value
        const key = callbackMarkerPrefix + (yield* PendingAuthorizations.stateKey(Redacted.value(pending.state)))
        const now = yield* clock.currentTimeMillis
        const marker = yield* Effect.orDie(
          Schema.decodeUnknown(TokenSet.TokenSet)({
            accessToken: markerToken,
            tokenType: "Bearer",
            expiresAt: DateTime.formatIso(pending.expiresAt),
            issuedAt: new Date(now).toISOString(),
            scopes: []
          })
        )
        yield* store.set(key, marker, { expectedVersion: null }).pipe(
          Effect.catchTag("VersionConflict", () => new OAuthError.StateMismatch({ reason: "reused" }))
        )
        const until = Math.max(0, DateTime.toEpochMillis(pending.expiresAt) - now)
        yield* Effect.sleep(Duration.millis(until)).pipe(
          Effect.zipRight(store.remove(key)),
          Effect.ignore,
          // The callback route is uninterruptible; the clean-up must not be, or closing the layer would wait for it.
          Effect.interruptible,
          Effect.forkIn(scope)
        )
      })

    const chooseKey = (tokens: TokenSet.TokenSet, request: HttpServerRequest.HttpServerRequest) =>
      options.key === undefined
        ? Crypto.randomId
        : options.key(tokens, request).pipe(
          Effect.provide(keyContext),
          Effect.catchAllCause(() => new Pages.KeyFailed())
        )

    // GET callback: check it, exchange the code once, save the tokens, start the session.
    const callback = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const clearPending = (response: HttpServerResponse.HttpServerResponse) =>
        HttpServerResponse.expireCookie(response, pendingName, cookieOptions(request, paths.callback))
      const fail = (error: Pages.SignInError) => {
        const failure = Pages.describe(error, paths.login)
        return logFailure("sign-in failed", failure).pipe(
          Effect.zipRight(renderFailure(failure)),
          Effect.map(clearPending)
        )
      }
      const params = new URL(request.url, requestBase).searchParams

      const completed = yield* Effect.either(Effect.gen(function*() {
        const { fromCookie, pending, returnTo } = yield* findPending(request, params)
        const code = yield* oauth.callback(params, pending)
        if (fromCookie) yield* claimCallback(pending)
        const tokens = yield* oauth.exchange(code, pending)
        const key = yield* chooseKey(tokens, request)
        yield* accessTokens.save(key, tokens)
        return { key, returnTo }
      }))
      if (Either.isLeft(completed)) return yield* fail(completed.left)
      const { key, returnTo } = completed.right

      const now = yield* clock.currentTimeMillis
      const session = yield* Schema.encode(SessionCookie)({
        key,
        expiresAt: now + Duration.toMillis(sessionLifetime)
      }).pipe(Effect.orDie)
      yield* Effect.logDebug("sign-in completed").pipe(Effect.annotateLogs("oauth.key", key))
      return yield* setCookie(
        clearPending(HttpServerResponse.redirect(returnTo, { status: 302, headers: noStore })),
        sessionName,
        yield* Crypto.seal(keys, "session", session),
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
        const failure: Pages.Failure = {
          tag: "CrossSiteRequest",
          status: 403,
          title: "Sign-out refused",
          message: "A sign-out request must come from a page of this application. Use its sign-out button.",
          loginPath: paths.login,
          error: undefined
        }
        yield* logFailure("sign-out refused", failure)
        return yield* renderFailure(failure)
      }
      const key = yield* readSession(request)
      if (Option.isSome(key)) {
        const signedOut = yield* Effect.either(accessTokens.signOut(key.value))
        // A failed revocation keeps the tokens and the session, so that signing out can be tried again (SPEC S30).
        if (Either.isLeft(signedOut)) {
          const failure = Pages.describe(signedOut.left, paths.login, "sign-out")
          yield* logFailure("sign-out failed", failure).pipe(Effect.annotateLogs("oauth.key", key.value))
          return yield* renderFailure(failure)
        }
        yield* Effect.logDebug("sign-out completed").pipe(Effect.annotateLogs("oauth.key", key.value))
      }
      return HttpServerResponse.expireCookie(
        HttpServerResponse.redirect(settings.afterLogout, { status: 303, headers: noStore }),
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
    const user = (key: string): User => ({
      key,
      accessToken: accessTokens.get(key),
      tokens: accessTokens.tokens(key)
    })
    return { router, currentKey, openSession, user, paths, sessionCookie: sessionName }
  })

/**
 * The handler of `NodeSignInAuthentication.Authentication` over `signIn`: the user of a valid session cookie, else
 * `Unauthorized`. A session cookie other than `oauth_session` (the one the security scheme names) fails.
 */
export const authentication = (signIn: Service): Effect.Effect<
  { readonly session: (sealed: Redacted.Redacted<string>) => Effect.Effect<User, HttpApiError.Unauthorized> },
  OAuthConfig.InvalidConfig
> =>
  signIn.sessionCookie !== "oauth_session"
    ? new OAuthConfig.InvalidConfig({
      field: "sessionCookie",
      reason: "must be oauth_session for NodeSignInAuthentication.Authentication"
    })
    : Effect.succeed({
      session: (sealed) =>
        Effect.flatMap(
          signIn.openSession(Redacted.value(sealed)),
          Option.match({
            onNone: () => Effect.fail(new HttpApiError.Unauthorized()),
            onSome: (key) => Effect.succeed(signIn.user(key))
          })
        )
    })
