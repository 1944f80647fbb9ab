import { AccessTokens, OAuthClient, OAuthError, PendingAuthorizations, TokenStore } from "@effect-oauth/core"
import { NodeSignIn, NodeSignInAuthentication, NodeSignInRequest } from "@effect-oauth/node"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as FastCheck from "effect/FastCheck"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"

const { Fault } = FakeAuthorizationServer

type Services =
  | OAuthClient.OAuthClient
  | AccessTokens.AccessTokens
  | PendingAuthorizations.PendingAuthorizations
  | TokenStore.TokenStore
  | FakeAuthorizationServer.FakeAuthorizationServer

const TestLayer = AccessTokens.layer().pipe(
  Layer.provideMerge(TokenStore.layerMemory),
  Layer.provideMerge(PendingAuthorizations.layerMemory),
  Layer.provideMerge(OAuthTest.layer())
)

const randomKey = (id: string): NodeSignIn.CookieKey => ({
  id,
  secret: Redacted.make(Encoding.encodeBase64Url(globalThis.crypto.getRandomValues(new Uint8Array(32))))
})

const keyA = randomKey("a")
const keyB = randomKey("b")

/** The origin the fake's registered redirect URI points at. */
const appOrigin = "http://127.0.0.1:3000"

interface StoredCookie {
  readonly value: string
  readonly path: string
}

interface RequestInit {
  readonly method?: string
  readonly headers?: Readonly<Record<string, string>>
}

type Handler = (request: Request) => Promise<Response>

/** One request to the handler, without a cookie jar. */
const send = (handler: Handler, path: string, init?: RequestInit, origin: string = appOrigin) =>
  Effect.promise(() =>
    handler(new Request(new URL(path, origin), { method: init?.method ?? "GET", headers: { ...init?.headers } }))
  )

interface Browser {
  readonly handler: Handler
  readonly cookies: Map<string, StoredCookie>
  readonly request: (path: string, init?: RequestInit) => Effect.Effect<Response>
  readonly cookieHeader: (path: string) => string
}

/** A browser with a cookie jar (paths and Max-Age=0 honoured) in front of one handler. */
const makeBrowser = (handler: Handler, origin: string = appOrigin): Browser => {
  const cookies = new Map<string, StoredCookie>()
  const cookieHeader = (path: string) =>
    Array.from(cookies.entries())
      .filter(([, cookie]) => cookie.path === "/" || path === cookie.path || path.startsWith(`${cookie.path}/`))
      .map(([name, cookie]) => `${name}=${cookie.value}`)
      .join("; ")
  const request = (path: string, init?: RequestInit) =>
    Effect.gen(function*() {
      const cookie = cookieHeader(new URL(path, origin).pathname)
      const response = yield* send(
        handler,
        path,
        { ...init, headers: { ...(cookie === "" ? {} : { cookie }), ...init?.headers } },
        origin
      )
      for (const header of response.headers.getSetCookie()) {
        const [pair = "", ...attributes] = header.split(";").map((part) => part.trim())
        const index = pair.indexOf("=")
        const name = pair.slice(0, index)
        const attribute = (key: string) =>
          attributes.find((a) => a.toLowerCase().startsWith(`${key.toLowerCase()}=`))?.split("=")[1]
        if (attribute("Max-Age") === "0") cookies.delete(name)
        else cookies.set(name, { value: pair.slice(index + 1), path: attribute("Path") ?? "/" })
      }
      return response
    })
  return { handler, cookies, request, cookieHeader }
}

const setup = (signIn: NodeSignIn.Service) =>
  Effect.map(
    Effect.runtime<Services>(),
    (runtime) => HttpApp.toWebHandlerRuntime(runtime)(signIn.router)
  )

/** A web handler for `app`, routes of the application beside the sign-in routes, with `signIn` provided. */
const serveApp = (signIn: NodeSignIn.Service, app: HttpRouter.HttpRouter<unknown, Services | NodeSignIn.NodeSignIn>) =>
  Effect.map(
    Effect.runtime<Services>(),
    (runtime) => HttpApp.toWebHandlerRuntime(runtime)(app.pipe(Effect.provideService(NodeSignIn.NodeSignIn, signIn)))
  )

const location = (response: Response) => response.headers.get("location") ?? ""

const fake = FakeAuthorizationServer.FakeAuthorizationServer

/** The browser goes to /login, the user approves, the browser follows the callback. */
const signInFlow = (browser: Browser, returnTo?: string) =>
  Effect.gen(function*() {
    const server = yield* fake
    const login = yield* browser.request(
      returnTo === undefined ? "/login" : `/login?returnTo=${encodeURIComponent(returnTo)}`
    )
    const authorizationUrl = location(login)
    const callbackUrl = yield* server.approve(authorizationUrl)
    const callbackCookies = browser.cookieHeader(callbackUrl.pathname)
    const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search)
    return { login, authorizationUrl, callbackUrl, callbackCookies, callback }
  })

const currentKeyOf = (signIn: NodeSignIn.Service, browser: Browser, origin: string = appOrigin) =>
  signIn.currentKey.pipe(
    Effect.provideService(
      HttpServerRequest.HttpServerRequest,
      HttpServerRequest.fromWeb(new Request(`${origin}/`, { headers: { cookie: browser.cookieHeader("/") } }))
    )
  )

const setCookies = (response: Response) => response.headers.getSetCookie()
const setCookieOf = (response: Response, name: string) =>
  setCookies(response).find((header) => header.startsWith(`${name}=`)) ?? ""

for (const pendingStorage of ["cookie", "store"] as const) {
  describe(`NodeSignIn, pending authorization in the ${pendingStorage}`, () => {
    const makeSignIn = (options: Partial<NodeSignIn.Options> = {}) =>
      NodeSignIn.make({ cookieKeys: [keyA], pendingStorage, ...options })

    it.scoped("a browser signs in: login redirects, the callback saves the tokens under the session key (S2, S4)", () =>
      Effect.gen(function*() {
        const signIn = yield* makeSignIn()
        const browser = makeBrowser(yield* setup(signIn))
        const server = yield* fake
        const { authorizationUrl, callback, login } = yield* signInFlow(browser, "/dashboard?tab=1")

        assert.strictEqual(login.status, 302)
        assert.strictEqual(login.headers.get("cache-control"), "no-store")
        assert.isTrue(authorizationUrl.startsWith(server.endpoints.authorization + "?"))
        assert.isTrue(setCookieOf(login, "oauth_pending").length > 0)

        assert.strictEqual(callback.status, 302)
        assert.strictEqual(location(callback), "/dashboard?tab=1")
        assert.strictEqual(callback.headers.get("cache-control"), "no-store")
        assert.isFalse(browser.cookies.has("oauth_pending"))
        assert.isTrue(browser.cookies.has("oauth_session"))

        const key = yield* currentKeyOf(signIn, browser)
        assert.isTrue(Option.isSome(key))
        const [grant] = yield* server.grants
        const saved = yield* Effect.flatMap(
          AccessTokens.AccessTokens,
          (tokens) => tokens.tokens(Option.getOrThrow(key))
        )
        assert.strictEqual(Redacted.value(saved.accessToken), grant?.accessTokens[0])
        assert.strictEqual((yield* server.counters).authorizationCode, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("POST /logout revokes the refresh token at the server, removes the tokens and ends the session (S30)", () =>
      Effect.gen(function*() {
        const signIn = yield* makeSignIn({ afterLogout: "/goodbye" })
        const browser = makeBrowser(yield* setup(signIn))
        const server = yield* fake
        yield* signInFlow(browser)
        const key = Option.getOrThrow(yield* currentKeyOf(signIn, browser))
        const refreshToken = (yield* server.grants)[0]?.refreshToken ?? ""
        assert.isTrue(yield* server.isRefreshTokenValid(refreshToken))

        const logout = yield* browser.request("/logout", { method: "POST", headers: { origin: appOrigin } })
        assert.strictEqual(logout.status, 303)
        assert.strictEqual(location(logout), "/goodbye")
        assert.match(setCookieOf(logout, "oauth_session"), /Max-Age=0/)
        assert.strictEqual((yield* server.counters).revoke, 1)
        assert.isFalse(yield* server.isRefreshTokenValid(refreshToken))
        assert.isTrue(Option.isNone(yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key))))
        assert.isTrue(Option.isNone(yield* currentKeyOf(signIn, browser)))
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a replayed callback is refused with 400 and makes no second token request (S2)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(yield* makeSignIn()))
        const server = yield* fake
        const { callback, callbackCookies, callbackUrl } = yield* signInFlow(browser)
        assert.strictEqual(callback.status, 302)
        // The attacker replays the callback URL with the pending cookie as it was.
        const replay = yield* send(browser.handler, callbackUrl.pathname + callbackUrl.search, {
          headers: { cookie: callbackCookies }
        })
        assert.strictEqual(replay.status, 400)
        assert.include(yield* Effect.promise(() => replay.text()), "StateMismatch")
        assert.strictEqual((yield* server.counters).authorizationCode, 1)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a tampered pending cookie is refused with 400 and no token request (S6)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(yield* makeSignIn()))
        const server = yield* fake
        const login = yield* browser.request("/login")
        const pending = browser.cookies.get("oauth_pending")
        assert.isDefined(pending)
        const value = pending?.value ?? ""
        const flipped = value.slice(0, -3) + (value.at(-3) === "A" ? "B" : "A") + value.slice(-2)
        browser.cookies.set("oauth_pending", { value: flipped, path: pending?.path ?? "/" })
        const callbackUrl = yield* server.approve(location(login))
        const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search)
        assert.strictEqual(callback.status, 400)
        assert.include(yield* Effect.promise(() => callback.text()), "StateMismatch")
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a pending cookie sealed with a foreign key is refused with 400 and no token request (S6)", () =>
      Effect.gen(function*() {
        const server = yield* fake
        const other = makeBrowser(yield* setup(yield* makeSignIn({ cookieKeys: [randomKey("a")] })))
        const login = yield* other.request("/login")
        const browser = makeBrowser(yield* setup(yield* makeSignIn()))
        for (const [name, cookie] of other.cookies) browser.cookies.set(name, cookie)
        const callbackUrl = yield* server.approve(location(login))
        const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search, {
          headers: { accept: "application/json" }
        })
        assert.strictEqual(callback.status, 400)
        assert.strictEqual((yield* Effect.promise(() => callback.json())).error, "StateMismatch")
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a callback without the pending cookie (another browser) is refused with 400 (S6)", () =>
      Effect.gen(function*() {
        const handler = yield* setup(yield* makeSignIn())
        const server = yield* fake
        const attacker = makeBrowser(handler)
        const login = yield* attacker.request("/login")
        const callbackUrl = yield* server.approve(location(login))
        const victim = makeBrowser(handler)
        const callback = yield* victim.request(callbackUrl.pathname + callbackUrl.search)
        assert.strictEqual(callback.status, 400)
        assert.isFalse(victim.cookies.has("oauth_session"))
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a callback of a sign-in started in another browser is refused though this one has its own (login CSRF, S6)", () =>
      Effect.gen(function*() {
        const handler = yield* setup(yield* makeSignIn())
        const server = yield* fake
        const attacker = makeBrowser(handler)
        const attackerLogin = yield* attacker.request("/login")
        const attackerCallback = yield* server.approve(location(attackerLogin), { user: "mallory" })
        const victim = makeBrowser(handler)
        yield* victim.request("/login")
        assert.isTrue(victim.cookies.has("oauth_pending"))
        const callback = yield* victim.request(attackerCallback.pathname + attackerCallback.search)
        assert.strictEqual(callback.status, 400)
        assert.isFalse(victim.cookies.has("oauth_session"))
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a callback after the pending authorization's 10 minutes is refused with 400 (S9)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(yield* makeSignIn()))
        const server = yield* fake
        const login = yield* browser.request("/login")
        assert.match(setCookieOf(login, "oauth_pending"), /Max-Age=600/)
        const callbackUrl = yield* server.approve(location(login))
        yield* TestClock.adjust(Duration.minutes(10))
        const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search)
        assert.strictEqual(callback.status, 400)
        assert.include(yield* Effect.promise(() => callback.text()), "StateMismatch")
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a callback whose iss names another issuer is refused with 400 before any token request (S8)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(yield* makeSignIn()))
        const server = yield* fake
        const login = yield* browser.request("/login")
        const callbackUrl = yield* server.approve(location(login))
        callbackUrl.searchParams.set("iss", "https://evil.example")
        const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search)
        assert.strictEqual(callback.status, 400)
        assert.include(yield* Effect.promise(() => callback.text()), "IssuerMismatch")
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.scoped("a denied authorization shows a friendly page with a link back to /login (S7)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(yield* makeSignIn()))
        const server = yield* fake
        const login = yield* browser.request("/login")
        const callbackUrl = yield* server.deny(location(login))
        const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search, {
          headers: { accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8" }
        })
        const body = yield* Effect.promise(() => callback.text())
        assert.strictEqual(callback.status, 400)
        assert.match(callback.headers.get("content-type") ?? "", /^text\/html/)
        assert.include(body, "You declined access")
        assert.include(body, "href=\"/login\"")
        assert.include(body, "AuthorizationDenied")
        assert.isFalse(browser.cookies.has("oauth_pending"))
        assert.isFalse(browser.cookies.has("oauth_session"))
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))
  })
}

describe("NodeSignIn", () => {
  it.scoped("cookies are HttpOnly, SameSite=Lax, Secure on a public host and not Secure on loopback hosts (S26, S27, S39)", () =>
    Effect.gen(function*() {
      const handler = yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA] }))
      const attributes = (header: string) => header.split(";").slice(1).map((part) => part.trim())

      const publicLogin = yield* send(handler, "/login", undefined, "https://app.example.com")
      const pending = attributes(setCookieOf(publicLogin, "oauth_pending"))
      assert.includeMembers(pending, ["HttpOnly", "SameSite=Lax", "Secure", "Path=/callback", "Max-Age=600"])

      for (
        const origin of ["http://127.0.0.1:3000", "http://localhost:8080", "http://127.1.2.3", "http://[::1]:3000"]
      ) {
        const login = yield* send(handler, "/login", undefined, origin)
        const cookie = attributes(setCookieOf(login, "oauth_pending"))
        assert.includeMembers(cookie, ["HttpOnly", "SameSite=Lax", "Path=/callback"], origin)
        assert.notInclude(cookie, "Secure", origin)
      }
      // The Host header wins over the URL, as behind a Node server.
      const viaHost = yield* send(handler, "/login", { headers: { host: "app.example.com" } })
      assert.include(attributes(setCookieOf(viaHost, "oauth_pending")), "Secure")
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("the session cookie is HttpOnly, SameSite=Lax, Path=/, lasts the session lifetime, Secure on a public host (S26, S27)", () =>
    Effect.gen(function*() {
      const handler = yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA], sessionLifetime: Duration.days(7) }))
      const loopback = yield* signInFlow(makeBrowser(handler))
      const session = setCookieOf(loopback.callback, "oauth_session").split(";").slice(1).map((part) => part.trim())
      assert.includeMembers(session, ["HttpOnly", "SameSite=Lax", "Path=/", `Max-Age=${7 * 24 * 3600}`])
      assert.notInclude(session, "Secure")
      // The same callback on a public host (the fake redirects to 127.0.0.1, the browser is elsewhere).
      const browser = makeBrowser(handler, "https://app.example.com")
      const { callback } = yield* signInFlow(browser)
      assert.include(setCookieOf(callback, "oauth_session").split(";").map((part) => part.trim()), "Secure")
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("returnTo keeps paths on this site and listed origins; open-redirect attempts land on the default", () =>
    Effect.gen(function*() {
      const handler = yield* setup(
        yield* NodeSignIn.make({ cookieKeys: [keyA], defaultReturnTo: "/home", origins: ["https://app.example.com"] })
      )
      const returnsTo = (returnTo: string | undefined) =>
        Effect.map(signInFlow(makeBrowser(handler), returnTo), ({ callback }) => location(callback))

      assert.strictEqual(yield* returnsTo(undefined), "/home")
      assert.strictEqual(yield* returnsTo("/reports/1?tab=a#top"), "/reports/1?tab=a#top")
      assert.strictEqual(yield* returnsTo("https://app.example.com/x?y=1"), "https://app.example.com/x?y=1")
      for (
        const attack of [
          "//evil.example",
          "https://evil.example",
          "/\\evil.example",
          "\\\\evil.example",
          "javascript:alert(1)",
          "/\t/evil.example",
          "http:evil.example",
          "https://app.example.com@evil.example/",
          "https://user:pass@app.example.com/",
          "data:text/html,hi",
          "relative/path",
          `/${"a".repeat(2000)}`
        ]
      ) {
        assert.strictEqual(yield* returnsTo(attack), "/home", attack)
      }
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("/logout needs POST (GET answers 405) and a same-origin request; cross-site ones revoke nothing (S30, S38)", () =>
    Effect.gen(function*() {
      const signIn = yield* NodeSignIn.make({ cookieKeys: [keyA] })
      const browser = makeBrowser(yield* setup(signIn))
      const server = yield* fake
      yield* signInFlow(browser)
      const key = Option.getOrThrow(yield* currentKeyOf(signIn, browser))

      const get = yield* browser.request("/logout")
      assert.strictEqual(get.status, 405)
      assert.strictEqual(get.headers.get("allow"), "POST")

      const refused: ReadonlyArray<Readonly<Record<string, string>>> = [
        { origin: "https://evil.example" },
        { origin: "null" },
        { origin: appOrigin, "sec-fetch-site": "cross-site" },
        { "sec-fetch-site": "same-site", origin: "http://other.127.0.0.1.nip.io:3000" },
        {}
      ]
      for (const headers of refused) {
        const response = yield* browser.request("/logout", { method: "POST", headers })
        assert.strictEqual(response.status, 403, JSON.stringify(headers))
        assert.deepStrictEqual(setCookies(response), [])
      }
      assert.strictEqual((yield* server.counters).revoke, 0)
      assert.isTrue(Option.isSome(yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key))))
      assert.isTrue(Option.isSome(yield* currentKeyOf(signIn, browser)))

      const allowed = yield* browser.request("/logout", {
        method: "POST",
        headers: { "sec-fetch-site": "same-origin" }
      })
      assert.strictEqual(allowed.status, 303)
      assert.strictEqual((yield* server.counters).revoke, 1)
      assert.isTrue(Option.isNone(yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get(key))))
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("cookie keys rotate: the first key seals, every key opens, a removed key opens nothing (S6)", () =>
    Effect.gen(function*() {
      const server = yield* fake
      const oldSignIn = yield* NodeSignIn.make({ cookieKeys: [keyA] })
      const newSignIn = yield* NodeSignIn.make({ cookieKeys: [keyB, keyA] })
      const onlyNew = yield* NodeSignIn.make({ cookieKeys: [keyB] })
      const oldHandler = yield* setup(oldSignIn)
      const newHandler = yield* setup(newSignIn)
      const onlyNewHandler = yield* setup(onlyNew)

      // Started before the rotation, finished after it.
      const browser = makeBrowser(oldHandler)
      const login = yield* browser.request("/login")
      assert.match(browser.cookies.get("oauth_pending")?.value ?? "", /^v1\.a\./)
      const callbackUrl = yield* server.approve(location(login))
      const finished = yield* send(newHandler, callbackUrl.pathname + callbackUrl.search, {
        headers: { cookie: browser.cookieHeader("/callback") }
      })
      assert.strictEqual(finished.status, 302)

      // After the rotation the new key seals; the old key alone cannot open it.
      const rotated = makeBrowser(newHandler)
      yield* signInFlow(rotated)
      assert.match(rotated.cookies.get("oauth_session")?.value ?? "", /^v1\.b\./)
      assert.isTrue(Option.isSome(yield* currentKeyOf(newSignIn, rotated)))
      assert.isTrue(Option.isSome(yield* currentKeyOf(onlyNew, rotated)))
      assert.isTrue(Option.isNone(yield* currentKeyOf(oldSignIn, rotated)))

      const second = yield* rotated.request("/login")
      const secondCallback = yield* server.approve(location(second))
      const refused = yield* send(oldHandler, secondCallback.pathname + secondCallback.search, {
        headers: { cookie: rotated.cookieHeader("/callback") }
      })
      assert.strictEqual(refused.status, 400)

      // Once the old key is removed, its cookies open nothing.
      const legacy = makeBrowser(oldHandler)
      yield* signInFlow(legacy)
      assert.isTrue(Option.isNone(yield* currentKeyOf(onlyNew, legacy)))
      const legacyLogin = yield* legacy.request("/login")
      const legacyCallback = yield* server.approve(location(legacyLogin))
      const dropped = yield* send(onlyNewHandler, legacyCallback.pathname + legacyCallback.search, {
        headers: { cookie: legacy.cookieHeader("/callback") }
      })
      assert.strictEqual(dropped.status, 400)
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("a cookie key is 32 bytes in base64 or base64url, or a passphrase of 16+ characters; a short one fails when the layer is built, unseen (S26, S39)", () =>
    Effect.gen(function*() {
      const bytes = globalThis.crypto.getRandomValues(new Uint8Array(32))
      for (
        const secret of [Encoding.encodeBase64(bytes), Encoding.encodeBase64Url(bytes), "correct horse battery staple"]
      ) {
        const signIn = yield* NodeSignIn.make({ cookieKeys: [{ id: "k", secret: Redacted.make(secret) }] })
        const browser = makeBrowser(yield* setup(signIn))
        const { callback } = yield* signInFlow(browser)
        assert.strictEqual(callback.status, 302)
        assert.isTrue(Option.isSome(yield* currentKeyOf(signIn, browser)))
      }
      const short = yield* Effect.flip(
        NodeSignIn.make({ cookieKeys: [{ id: "k", secret: Redacted.make("too-short") }] })
      )
      assert.strictEqual(short._tag, "InvalidConfig")
      assert.isTrue(short.field.startsWith("cookieKeys"))
      assert.notInclude(short.message, "too-short")
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("a failing token endpoint gives a 502 page (S16)", () =>
    Effect.gen(function*() {
      const server = yield* fake
      const browser = makeBrowser(yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA] })))
      yield* server.inject(Fault.Status({ endpoint: "token", status: 500, body: "<html>oops</html>" }))
      const { callback } = yield* signInFlow(browser)
      assert.strictEqual(callback.status, 502)
      assert.include(yield* Effect.promise(() => callback.text()), "HttpError")

      yield* server.inject(
        Fault.Status({ endpoint: "token", status: 400, body: JSON.stringify({ error: "invalid_grant" }) })
      )
      const rejected = yield* signInFlow(browser)
      assert.strictEqual(rejected.callback.status, 502)
      assert.include(yield* Effect.promise(() => rejected.callback.text()), "ErrorResponse")
      assert.isFalse(browser.cookies.has("oauth_session"))
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("a store that fails gives a 503 page and no session (S18)", () =>
    Effect.gen(function*() {
      const unavailable = (operation: "set" | "remove") =>
        new OAuthError.TokenStoreError({ operation, reason: "Unavailable" })
      const failing = AccessTokens.layer().pipe(
        Layer.provideMerge(Layer.effect(
          TokenStore.TokenStore,
          Effect.map(TokenStore.makeMemory, (store) => ({ ...store, set: () => Effect.fail(unavailable("set")) }))
        )),
        Layer.provideMerge(Layer.succeed(PendingAuthorizations.PendingAuthorizations, {
          put: () =>
            Effect.fail(new OAuthError.PendingAuthorizationsError({ operation: "put", reason: "Unavailable" })),
          take: () => Effect.succeed(Option.none())
        })),
        Layer.provideMerge(OAuthTest.layer())
      )
      yield* Effect.gen(function*() {
        const cookieMode = makeBrowser(yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA] })))
        const { callback } = yield* signInFlow(cookieMode)
        assert.strictEqual(callback.status, 503)
        assert.include(yield* Effect.promise(() => callback.text()), "TokenStoreError")
        assert.isFalse(cookieMode.cookies.has("oauth_session"))

        const storeMode = makeBrowser(
          yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA], pendingStorage: "store" }))
        )
        const login = yield* storeMode.request("/login")
        assert.strictEqual(login.status, 503)
        assert.isFalse(storeMode.cookies.has("oauth_pending"))
      }).pipe(Effect.provide(failing))
    }))

  it.scoped("a key function chooses the AccessTokens key, and currentKey returns it", () =>
    Effect.gen(function*() {
      const signIn = yield* NodeSignIn.make({
        cookieKeys: [keyA],
        key: (tokens) => Effect.succeed(`user-${tokens.scopes.length}`)
      })
      const browser = makeBrowser(yield* setup(signIn))
      yield* signInFlow(browser)
      assert.deepStrictEqual(yield* currentKeyOf(signIn, browser), Option.some("user-1"))
      assert.isTrue(Option.isSome(yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get("user-1"))))
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("error pages and JSON errors never carry the code, state, tokens, client secret or cookies (S26)", () =>
    Effect.gen(function*() {
      const server = yield* fake
      const handler = yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA] }))
      const bodies: Array<string> = []
      const secrets: Array<string> = ["test-secret", Redacted.value(keyA.secret)]
      const keep = (response: Response) =>
        Effect.map(Effect.promise(() => response.text()), (body) => {
          bodies.push(body)
        })
      const remember = (callbackUrl: URL, browser: Browser) => {
        secrets.push(callbackUrl.searchParams.get("code") ?? "", callbackUrl.searchParams.get("state") ?? "")
        for (const cookie of browser.cookies.values()) secrets.push(cookie.value)
      }

      for (const accept of ["text/html", "application/json"]) {
        // A replay, after a successful sign-in.
        const browser = makeBrowser(handler)
        const flow = yield* signInFlow(browser)
        remember(flow.callbackUrl, browser)
        secrets.push(...flow.callbackCookies.split("; ").map((pair) => pair.slice(pair.indexOf("=") + 1)))
        yield* keep(
          yield* send(handler, flow.callbackUrl.pathname + flow.callbackUrl.search, {
            headers: { cookie: flow.callbackCookies, accept }
          })
        )
        // Mismatched issuer, denial, upstream failure, expiry, cross-site logout.
        for (
          const prepare of [
            (url: URL) => Effect.sync(() => url.searchParams.set("iss", "https://evil.example")),
            () => server.inject(Fault.Status({ endpoint: "token", status: 503 })),
            () =>
              server.inject(
                Fault.Status({
                  endpoint: "token",
                  status: 400,
                  body: JSON.stringify({ error: "invalid_grant", error_description: "bad code" })
                })
              ),
            () => TestClock.adjust(Duration.minutes(11))
          ]
        ) {
          const other = makeBrowser(handler)
          const login = yield* other.request("/login")
          const callbackUrl = yield* server.approve(location(login))
          remember(callbackUrl, other)
          yield* prepare(callbackUrl)
          const response = yield* other.request(callbackUrl.pathname + callbackUrl.search, { headers: { accept } })
          assert.isAtLeast(response.status, 400)
          yield* keep(response)
        }
        const denied = makeBrowser(handler)
        const deniedLogin = yield* denied.request("/login")
        const deniedUrl = yield* server.deny(location(deniedLogin))
        remember(deniedUrl, denied)
        yield* keep(yield* denied.request(deniedUrl.pathname + deniedUrl.search, { headers: { accept } }))
        yield* keep(
          yield* browser.request("/logout", { method: "POST", headers: { origin: "https://evil.example", accept } })
        )
        yield* keep(yield* browser.request("/logout", { headers: { accept } }))
      }
      for (const grant of yield* server.grants) secrets.push(...grant.accessTokens, ...grant.refreshTokens)
      for (const request of yield* server.requests) {
        if (request.form["code_verifier"] !== undefined) secrets.push(request.form["code_verifier"])
      }

      const realSecrets = secrets.filter((secret) => secret.length >= 8)
      assert.isAtLeast(bodies.length, 14)
      assert.isAtLeast(realSecrets.length, 20)
      for (const body of bodies) {
        assert.notInclude(body, "    at ", "no stack trace")
        for (const secret of realSecrets) {
          assert.isFalse(body.includes(secret), "a secret reached an error body")
        }
      }
    }).pipe(Effect.provide(TestLayer)))
})

// -----------------------------------------------------------------------------
// returnTo (S37), configuration (S39), replays (S40), logs, middleware
// -----------------------------------------------------------------------------

const siteBase = "https://app.example"

/** Percent-decodes until stable (at most 8 rounds); undefined when malformed. */
const decodeAll = (text: string): string | undefined => {
  let current = text
  for (let i = 0; i < 8; i++) {
    if (!/%[0-9a-f]{2}/i.test(current)) return current
    const next = Either.try(() => decodeURIComponent(current))
    if (Either.isLeft(next)) return undefined
    current = next.right
  }
  return undefined
}

/** An independent reading of "stays on this origin": every form a browser or server may take stays here. */
const staysOnSite = (result: string): boolean => {
  if (!result.startsWith("/") || result.startsWith("//") || result.includes("\\")) return false
  if (new URL(result, siteBase).origin !== siteBase) return false
  const decoded = decodeAll(new URL(result, siteBase).pathname)
  if (decoded === undefined) return false
  const slashed = decoded.replace(/\\/g, "/")
  if (slashed.startsWith("//") || !URL.canParse(slashed, siteBase)) return false
  const resolved = new URL(slashed, siteBase)
  return resolved.origin === siteBase && !resolved.pathname.startsWith("//")
}

const pathPiece = FastCheck.constantFrom(
  "/",
  "//",
  ".",
  "..",
  "%2e",
  "%2E",
  "%2e%2e",
  "%2f",
  "%2F",
  "%5c",
  "%5C",
  "%252e",
  "%252f",
  "\\",
  "evil.example",
  "EVIL.example",
  "a",
  "dashboard",
  "?x=1",
  "#top",
  "%09",
  "@",
  ":"
)

describe("NodeSignIn rules", () => {
  it("safeReturnTo normalises dot segments, encoded and back slashes and case before deciding (S37)", () => {
    for (
      const attack of [
        "//evil.example",
        "/.//evil.example",
        "/%2e//evil.example",
        "/%2E//evil.example",
        "/a/..//evil.example",
        "/a/%2e%2e//evil.example",
        "/a/%2E%2E//evil.example",
        "/%2f%2fevil.example",
        "/%2F/evil.example",
        "/%5cevil.example",
        "/%5Cevil.example",
        "/\\evil.example",
        "/%252e//evil.example",
        "/a/..%2f..%2f/evil.example",
        "/./%2e/.//evil.example",
        "https://evil.example/",
        "HTTPS://APP.EXAMPLE.COM//evil.example",
        "javascript:alert(1)"
      ]
    ) {
      assert.strictEqual(NodeSignInRequest.safeReturnTo(attack, ["https://app.example.com"], "/home"), "/home", attack)
    }
    assert.strictEqual(NodeSignInRequest.safeReturnTo("/dashboard?tab=1#top", [], "/home"), "/dashboard?tab=1#top")
    assert.strictEqual(NodeSignInRequest.safeReturnTo("/a/../b", [], "/home"), "/b")
    assert.strictEqual(
      NodeSignInRequest.safeReturnTo("HTTPS://APP.EXAMPLE.COM/x", ["https://app.example.com"], "/home"),
      "https://app.example.com/x"
    )
  })

  it.prop(
    "safeReturnTo never returns a target that leaves the site, over generated paths (S37)",
    [FastCheck.array(pathPiece, { minLength: 1, maxLength: 8 })],
    ([pieces]) => {
      const input = "/" + pieces.join("")
      const result = NodeSignInRequest.safeReturnTo(input, [], "/fallback")
      return result === "/fallback" || staysOnSite(result)
    },
    { fastCheck: { numRuns: 2000 } }
  )

  it.scoped("every bad sign-in option fails the layer when it is built, naming the option (S39)", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Partial<NodeSignIn.Options>, string]> = [
        [{ cookieKeys: [{ id: "k", secret: Redacted.make("short") }] }, "cookieKeys"],
        [{ cookieKeys: [keyA, { ...keyB, id: "a" }] }, "cookieKeys"],
        [{ cookieKeys: [{ id: "bad id", secret: keyA.secret }] }, "cookieKeys"],
        [{ origins: ["not a url"] }, "origins"],
        [{ origins: ["ftp://app.example.com"] }, "origins"],
        [{ paths: { callback: "/elsewhere" } }, "paths.callback"],
        [{ paths: { login: "/same", logout: "/same" } }, "paths"],
        [{ defaultReturnTo: "//evil.example" }, "defaultReturnTo"],
        [{ afterLogout: "https://evil.example/" }, "afterLogout"],
        [{ sessionCookie: "bad name;" }, "sessionCookie"],
        [{ pendingCookie: "same", sessionCookie: "same" }, "sessionCookie"],
        [{ sessionLifetime: Duration.zero }, "sessionLifetime"]
      ]
      for (const [options, field] of cases) {
        const error = yield* Effect.flip(NodeSignIn.make({ cookieKeys: [keyA], ...options }))
        assert.strictEqual(error._tag, "InvalidConfig", field)
        assert.isTrue(error.field === field || error.field.startsWith(`${field}[`), `${error.field} names ${field}`)
        assert.notInclude(error.message, Redacted.value(keyA.secret))
      }
      const built = yield* Effect.either(
        Layer.build(NodeSignIn.layer({ cookieKeys: [{ id: "k", secret: Redacted.make("short") }] }))
      )
      assert.isTrue(Either.isLeft(built))
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("layerConfig reads the cookie keys as a redacted variable and fails at start on a bad one (S39)", () =>
    Effect.gen(function*() {
      const good = `k1:${Redacted.value(keyA.secret)},k0:${Redacted.value(keyB.secret)}`
      const withEnv = (env: Record<string, string>) =>
        Layer.build(NodeSignIn.layerConfig()).pipe(
          Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
        )
      const context = yield* withEnv({ OAUTH_COOKIE_KEYS: good })
      const signIn = Context.get(context, NodeSignIn.NodeSignIn)
      const browser = makeBrowser(yield* setup(signIn))
      yield* browser.request("/login")
      assert.match(browser.cookies.get("oauth_pending")?.value ?? "", /^v1\.k1\./)

      const short = yield* Effect.flip(withEnv({ OAUTH_COOKIE_KEYS: "k1:tooshort" }))
      assert.strictEqual(short._tag, "InvalidConfig")
      assert.notInclude(String(short), "tooshort")
      const missing = yield* Effect.flip(withEnv({}))
      assert.isTrue(ConfigError.isConfigError(missing))
      const malformed = yield* Effect.flip(withEnv({ OAUTH_COOKIE_KEYS: "k1:abc,:secretvalue" }))
      assert.isTrue(ConfigError.isConfigError(malformed))
      assert.notInclude(String(malformed), "secretvalue")
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("the callback route is the redirect URI's path (S4, S39)", () =>
    Effect.gen(function*() {
      const signIn = yield* NodeSignIn.make({ cookieKeys: [keyA] })
      assert.strictEqual(signIn.paths.callback, "/oauth/callback")
      const browser = makeBrowser(yield* setup(signIn))
      const { callback, callbackUrl } = yield* signInFlow(browser)
      assert.strictEqual(callbackUrl.pathname, "/oauth/callback")
      assert.strictEqual(callback.status, 302)
      assert.isTrue(Option.isSome(yield* currentKeyOf(signIn, browser)))
    }).pipe(
      Effect.provide(
        AccessTokens.layer().pipe(
          Layer.provideMerge(TokenStore.layerMemory),
          Layer.provideMerge(PendingAuthorizations.layerMemory),
          Layer.provideMerge(OAuthTest.layer({
            server: {
              clients: [{ ...FakeAuthorizationServer.defaultClient, redirectUris: [`${appOrigin}/oauth/callback`] }]
            }
          }))
        )
      )
    ))

  it.scoped("a callback replayed on another instance or after a restart never reaches the token endpoint when the token store is shared (S40, S2)", () =>
    Effect.gen(function*() {
      const server = yield* fake
      const first = makeBrowser(yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA] })))
      const { callback, callbackCookies, callbackUrl } = yield* signInFlow(first)
      assert.strictEqual(callback.status, 302)
      assert.strictEqual((yield* server.counters).authorizationCode, 1)

      // Another instance (or this one restarted): its own OAuthClient and AccessTokens, the same store.
      const other = yield* Layer.build(
        AccessTokens.layer().pipe(
          Layer.provideMerge(OAuthClient.layerWithConfig(OAuthTest.clientOptions())),
          Layer.provideMerge(FakeAuthorizationServer.layerHttpClient)
        )
      )
      const secondSignIn = yield* NodeSignIn.make({ cookieKeys: [keyA] }).pipe(Effect.provide(other))
      const second = yield* setup(secondSignIn).pipe(Effect.provide(other))
      const replay = yield* send(second, callbackUrl.pathname + callbackUrl.search, {
        headers: { cookie: callbackCookies }
      })
      assert.strictEqual(replay.status, 400)
      assert.include(yield* Effect.promise(() => replay.text()), "StateMismatch")
      assert.strictEqual((yield* server.counters).authorizationCode, 1)
      assert.isTrue(yield* server.isRefreshTokenValid((yield* server.grants)[0]?.refreshToken ?? ""))

      // A fresh sign-in on the other instance still works.
      const fresh = makeBrowser(second)
      assert.strictEqual((yield* signInFlow(fresh)).callback.status, 302)
      assert.strictEqual((yield* server.counters).authorizationCode, 2)
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("the used-callback mark leaves the store once the code could not be used anyway (S40)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      const browser = makeBrowser(yield* setup(yield* NodeSignIn.make({ cookieKeys: [keyA] })))
      const { callbackUrl } = yield* signInFlow(browser)
      const marker = "effect-oauth/signin-callback/" +
        (yield* PendingAuthorizations.stateKey(callbackUrl.searchParams.get("state") ?? ""))
      assert.isTrue(Option.isSome(yield* store.get(marker)))
      yield* TestClock.adjust(Duration.minutes(11))
      assert.isTrue(Option.isNone(yield* store.get(marker)))
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("sign-ins are logged: started and completed at Debug with oauth.key, failures at Warning with reason, code and status, never a secret", () =>
    Effect.gen(function*() {
      const logs: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
      const capture = Logger.make(({ annotations, logLevel, message }) => {
        logs.push({
          level: logLevel.label,
          message: Array.isArray(message) ? message.join(" ") : String(message),
          annotations: Object.fromEntries(HashMap.toEntries(annotations))
        })
      })
      yield* Effect.gen(function*() {
        const server = yield* fake
        const signIn = yield* NodeSignIn.make({ cookieKeys: [keyA] })
        const browser = makeBrowser(yield* setup(signIn))
        const ok = yield* signInFlow(browser)
        const key = Option.getOrThrow(yield* currentKeyOf(signIn, browser))
        yield* server.inject(
          Fault.Status({
            endpoint: "token",
            status: 401,
            body: JSON.stringify({ error: "invalid_client", error_description: "client secret test-secret is wrong" })
          })
        )
        const failed = yield* signInFlow(makeBrowser(browser.handler))
        assert.strictEqual(failed.callback.status, 502)
        const page = yield* Effect.promise(() => failed.callback.text())
        assert.include(page, "not set up correctly")

        assert.isTrue(logs.some((log) => log.level === "DEBUG" && log.message === "sign-in started"))
        assert.isTrue(
          logs.some((log) =>
            log.level === "DEBUG" && log.message === "sign-in completed" && log.annotations["oauth.key"] === key
          )
        )
        const warning = logs.find((log) => log.message === "sign-in failed")
        assert.strictEqual(warning?.level, "WARN")
        assert.strictEqual(warning?.annotations["oauth.reason"], "ErrorResponse")
        assert.strictEqual(warning?.annotations["oauth.error"], "invalid_client")
        assert.strictEqual(warning?.annotations["oauth.status"], 401)
        const secrets = [
          "test-secret",
          ok.callbackUrl.searchParams.get("code") ?? "",
          ok.callbackUrl.searchParams.get("state") ?? "",
          failed.callbackUrl.searchParams.get("code") ?? "",
          ...Array.from(browser.cookies.values()).map((cookie) => cookie.value)
        ]
        const text = JSON.stringify(logs)
        for (const secret of secrets) assert.notInclude(text, secret)
      }).pipe(
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("requireSignIn sends a signed-out browser to login with its path, answers 401 JSON otherwise, and provides the signed-in user", () =>
    Effect.gen(function*() {
      const signIn = yield* NodeSignIn.make({ cookieKeys: [keyA] })
      const app = HttpRouter.empty.pipe(
        HttpRouter.get(
          "/me",
          NodeSignIn.requireSignIn(Effect.gen(function*() {
            const user = yield* NodeSignIn.SignedIn
            const token = yield* Effect.orDie(user.accessToken)
            return HttpServerResponse.unsafeJson({ key: user.key, token: Redacted.value(token).length > 0 })
          }))
        ),
        HttpRouter.concat(signIn.router)
      )
      const browser = makeBrowser(yield* serveApp(signIn, app))
      const out = yield* browser.request("/me?tab=2", { headers: { accept: "text/html" } })
      assert.strictEqual(out.status, 302)
      assert.strictEqual(location(out), "/login?returnTo=%2Fme%3Ftab%3D2")
      const api = yield* browser.request("/me", { headers: { accept: "application/json" } })
      assert.strictEqual(api.status, 401)

      yield* signInFlow(browser, "/me")
      const key = Option.getOrThrow(yield* currentKeyOf(signIn, browser))
      const me = yield* browser.request("/me")
      assert.strictEqual(me.status, 200)
      assert.deepStrictEqual(yield* Effect.promise(() => me.json()), { key, token: true })
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("requireSignIn treats a session whose tokens are gone as signed out, and lets another key's ReauthorizationRequired through", () =>
    Effect.gen(function*() {
      const signIn = yield* NodeSignIn.make({ cookieKeys: [keyA] })
      const app = HttpRouter.empty.pipe(
        HttpRouter.get(
          "/me",
          NodeSignIn.requireSignIn(Effect.gen(function*() {
            const user = yield* NodeSignIn.SignedIn
            yield* user.accessToken
            return HttpServerResponse.text("ok")
          }))
        ),
        HttpRouter.get(
          "/other",
          NodeSignIn.requireSignIn(
            Effect.flatMap(AccessTokens.AccessTokens, (tokens) => tokens.get("service-account")).pipe(
              Effect.as(HttpServerResponse.text("ok"))
            )
          ).pipe(Effect.catchAll(() => HttpServerResponse.text("failed", { status: 500 })))
        ),
        HttpRouter.concat(signIn.router)
      )
      const browser = makeBrowser(yield* serveApp(signIn, app))
      yield* signInFlow(browser, "/me")
      const key = Option.getOrThrow(yield* currentKeyOf(signIn, browser))
      assert.strictEqual((yield* browser.request("/me")).status, 200)

      // Signed out elsewhere (another device, an admin, a revoked grant): the cookie is still valid.
      const accessTokens = yield* AccessTokens.AccessTokens
      yield* accessTokens.signOut(key)
      const page = yield* browser.request("/me", { headers: { accept: "text/html" } })
      assert.strictEqual(page.status, 302)
      assert.strictEqual(location(page), "/login?returnTo=%2Fme")
      const api = yield* browser.request("/me", { headers: { accept: "application/json" } })
      assert.strictEqual(api.status, 401)

      // A ReauthorizationRequired about another key is the handler's own failure.
      yield* signInFlow(browser, "/me")
      assert.strictEqual((yield* browser.request("/other", { headers: { accept: "text/html" } })).status, 500)
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("the HttpApi Authentication middleware reads the session cookie and provides SignedIn; without it, 401", () =>
    Effect.gen(function*() {
      class Me extends HttpApiGroup.make("me").add(
        HttpApiEndpoint.get("me", "/api/me").addSuccess(Schema.Struct({ key: Schema.String }))
      ).middleware(NodeSignInAuthentication.Authentication) {}
      class Api extends HttpApi.make("api").add(Me) {}
      const MeLive = HttpApiBuilder.group(
        Api,
        "me",
        (handlers) => handlers.handle("me", () => Effect.map(NodeSignIn.SignedIn, (user) => ({ key: user.key })))
      )
      const signIn = yield* NodeSignIn.make({ cookieKeys: [keyA] })
      const signInLayer = Layer.succeed(NodeSignIn.NodeSignIn, signIn)
      const ApiLive = HttpApiBuilder.api(Api).pipe(
        Layer.provide(MeLive),
        Layer.provide(NodeSignInAuthentication.layer),
        Layer.provide(signInLayer)
      )
      const web = HttpApiBuilder.toWebHandler(Layer.mergeAll(ApiLive, HttpServer.layerContext))
      yield* Effect.addFinalizer(() => Effect.promise(() => web.dispose()))

      const browser = makeBrowser(yield* setup(signIn))
      const unauthenticated = yield* Effect.promise(() => web.handler(new Request(`${appOrigin}/api/me`)))
      assert.strictEqual(unauthenticated.status, 401)
      const forged = yield* Effect.promise(() =>
        web.handler(new Request(`${appOrigin}/api/me`, { headers: { cookie: "oauth_session=v1.a.AAAA.BBBB" } }))
      )
      assert.strictEqual(forged.status, 401)

      yield* signInFlow(browser)
      const key = Option.getOrThrow(yield* currentKeyOf(signIn, browser))
      const me = yield* Effect.promise(() =>
        web.handler(new Request(`${appOrigin}/api/me`, { headers: { cookie: browser.cookieHeader("/api/me") } }))
      )
      assert.strictEqual(me.status, 200)
      assert.deepStrictEqual(yield* Effect.promise(() => me.json()), { key })
    }).pipe(Effect.provide(TestLayer)))

  it.scoped("NodeSignInAuthentication.layer refuses a NodeSignIn whose session cookie it cannot read (S39)", () =>
    Effect.gen(function*() {
      const signIn = yield* NodeSignIn.make({ cookieKeys: [keyA], sessionCookie: "my_session" })
      const error = yield* Effect.flip(
        Layer.build(NodeSignInAuthentication.layer.pipe(Layer.provide(Layer.succeed(NodeSignIn.NodeSignIn, signIn))))
      )
      assert.strictEqual(error.field, "sessionCookie")
    }).pipe(Effect.provide(TestLayer)))
})
