import type { OAuthClient } from "@effect-oauth/core"
import { AccessTokens, OAuthError, PendingAuthorizations, TokenStore } from "@effect-oauth/core"
import { NodeSignIn } from "@effect-oauth/node"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
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

const setup = <E, R extends Services>(signIn: NodeSignIn.SignIn<E, R>) =>
  Effect.map(
    Effect.runtime<Services>(),
    (runtime) => HttpApp.toWebHandlerRuntime(runtime)(signIn.router)
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

const currentKeyOf = <E, R>(signIn: NodeSignIn.SignIn<E, R>, browser: Browser, origin: string = appOrigin) =>
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

    it.effect("a browser signs in: login redirects, the callback saves the tokens under the session key (S2, S4)", () =>
      Effect.gen(function*() {
        const signIn = makeSignIn()
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

    it.effect("POST /logout revokes the refresh token at the server, removes the tokens and ends the session (S30)", () =>
      Effect.gen(function*() {
        const signIn = makeSignIn({ afterLogout: "/goodbye" })
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

    it.effect("a replayed callback is refused with 400 and makes no second token request (S2)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(makeSignIn()))
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

    it.effect("a tampered pending cookie is refused with 400 and no token request (S6)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(makeSignIn()))
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

    it.effect("a pending cookie sealed with a foreign key is refused with 400 and no token request (S6)", () =>
      Effect.gen(function*() {
        const server = yield* fake
        const other = makeBrowser(yield* setup(makeSignIn({ cookieKeys: [randomKey("a")] })))
        const login = yield* other.request("/login")
        const browser = makeBrowser(yield* setup(makeSignIn()))
        for (const [name, cookie] of other.cookies) browser.cookies.set(name, cookie)
        const callbackUrl = yield* server.approve(location(login))
        const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search, {
          headers: { accept: "application/json" }
        })
        assert.strictEqual(callback.status, 400)
        assert.strictEqual((yield* Effect.promise(() => callback.json())).error, "StateMismatch")
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a callback without the pending cookie (another browser) is refused with 400 (S6)", () =>
      Effect.gen(function*() {
        const handler = yield* setup(makeSignIn())
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

    it.effect("a callback of a sign-in started in another browser is refused though this one has its own (login CSRF, S6)", () =>
      Effect.gen(function*() {
        const handler = yield* setup(makeSignIn())
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

    it.effect("a callback after the pending authorization's 10 minutes is refused with 400 (S9)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(makeSignIn()))
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

    it.effect("a callback whose iss names another issuer is refused with 400 before any token request (S8)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(makeSignIn()))
        const server = yield* fake
        const login = yield* browser.request("/login")
        const callbackUrl = yield* server.approve(location(login))
        callbackUrl.searchParams.set("iss", "https://evil.example")
        const callback = yield* browser.request(callbackUrl.pathname + callbackUrl.search)
        assert.strictEqual(callback.status, 400)
        assert.include(yield* Effect.promise(() => callback.text()), "IssuerMismatch")
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
      }).pipe(Effect.provide(TestLayer)))

    it.effect("a denied authorization shows a friendly page with a link back to /login (S7)", () =>
      Effect.gen(function*() {
        const browser = makeBrowser(yield* setup(makeSignIn()))
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
  it.effect("cookies are HttpOnly, SameSite=Lax, Secure on a public host and not Secure on loopback hosts (S26, S27)", () =>
    Effect.gen(function*() {
      const handler = yield* setup(NodeSignIn.make({ cookieKeys: [keyA] }))
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

  it.effect("the session cookie is HttpOnly, SameSite=Lax, Path=/, lasts the session lifetime, Secure on a public host (S26, S27)", () =>
    Effect.gen(function*() {
      const handler = yield* setup(NodeSignIn.make({ cookieKeys: [keyA], sessionLifetime: Duration.days(7) }))
      const loopback = yield* signInFlow(makeBrowser(handler))
      const session = setCookieOf(loopback.callback, "oauth_session").split(";").slice(1).map((part) => part.trim())
      assert.includeMembers(session, ["HttpOnly", "SameSite=Lax", "Path=/", `Max-Age=${7 * 24 * 3600}`])
      assert.notInclude(session, "Secure")
      // The same callback on a public host (the fake redirects to 127.0.0.1, the browser is elsewhere).
      const browser = makeBrowser(handler, "https://app.example.com")
      const { callback } = yield* signInFlow(browser)
      assert.include(setCookieOf(callback, "oauth_session").split(";").map((part) => part.trim()), "Secure")
    }).pipe(Effect.provide(TestLayer)))

  it.effect("returnTo keeps paths on this site and listed origins; open-redirect attempts land on the default", () =>
    Effect.gen(function*() {
      const handler = yield* setup(
        NodeSignIn.make({ cookieKeys: [keyA], defaultReturnTo: "/home", origins: ["https://app.example.com"] })
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

  it.effect("/logout needs POST (GET answers 405) and a same-origin request; cross-site ones revoke nothing (S30)", () =>
    Effect.gen(function*() {
      const signIn = NodeSignIn.make({ cookieKeys: [keyA] })
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

  it.effect("cookie keys rotate: the first key seals, every key opens, a removed key opens nothing (S6)", () =>
    Effect.gen(function*() {
      const server = yield* fake
      const oldSignIn = NodeSignIn.make({ cookieKeys: [keyA] })
      const newSignIn = NodeSignIn.make({ cookieKeys: [keyB, keyA] })
      const onlyNew = NodeSignIn.make({ cookieKeys: [keyB] })
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

  it.effect("a cookie key is 32 bytes in base64 or base64url, or a passphrase of 16+ characters; a short one fails unseen (S26)", () =>
    Effect.gen(function*() {
      const bytes = globalThis.crypto.getRandomValues(new Uint8Array(32))
      for (
        const secret of [Encoding.encodeBase64(bytes), Encoding.encodeBase64Url(bytes), "correct horse battery staple"]
      ) {
        const signIn = NodeSignIn.make({ cookieKeys: [{ id: "k", secret: Redacted.make(secret) }] })
        const browser = makeBrowser(yield* setup(signIn))
        const { callback } = yield* signInFlow(browser)
        assert.strictEqual(callback.status, 302)
        assert.isTrue(Option.isSome(yield* currentKeyOf(signIn, browser)))
      }
      const short = yield* setup(NodeSignIn.make({ cookieKeys: [{ id: "k", secret: Redacted.make("too-short") }] }))
      const response = yield* send(short, "/login")
      assert.strictEqual(response.status, 500)
      assert.notInclude(yield* Effect.promise(() => response.text()), "too-short")
    }).pipe(Effect.provide(TestLayer)))

  it.effect("a failing token endpoint gives a 502 page (S16)", () =>
    Effect.gen(function*() {
      const server = yield* fake
      const browser = makeBrowser(yield* setup(NodeSignIn.make({ cookieKeys: [keyA] })))
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

  it.effect("a store that fails gives a 503 page and no session (S18)", () =>
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
        const cookieMode = makeBrowser(yield* setup(NodeSignIn.make({ cookieKeys: [keyA] })))
        const { callback } = yield* signInFlow(cookieMode)
        assert.strictEqual(callback.status, 503)
        assert.include(yield* Effect.promise(() => callback.text()), "TokenStoreError")
        assert.isFalse(cookieMode.cookies.has("oauth_session"))

        const storeMode = makeBrowser(yield* setup(NodeSignIn.make({ cookieKeys: [keyA], pendingStorage: "store" })))
        const login = yield* storeMode.request("/login")
        assert.strictEqual(login.status, 503)
        assert.isFalse(storeMode.cookies.has("oauth_pending"))
      }).pipe(Effect.provide(failing))
    }))

  it.effect("a key function chooses the AccessTokens key, and currentKey returns it", () =>
    Effect.gen(function*() {
      const signIn = NodeSignIn.make({
        cookieKeys: [keyA],
        key: (tokens) => Effect.succeed(`user-${tokens.scopes.length}`)
      })
      const browser = makeBrowser(yield* setup(signIn))
      yield* signInFlow(browser)
      assert.deepStrictEqual(yield* currentKeyOf(signIn, browser), Option.some("user-1"))
      assert.isTrue(Option.isSome(yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get("user-1"))))
    }).pipe(Effect.provide(TestLayer)))

  it.effect("error pages and JSON errors never carry the code, state, tokens, client secret or cookies (S26)", () =>
    Effect.gen(function*() {
      const server = yield* fake
      const handler = yield* setup(NodeSignIn.make({ cookieKeys: [keyA] }))
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
