import { AccessTokens, OAuthError, TokenStore } from "@effect-oauth/core"
import { NodeLoopbackLogin } from "@effect-oauth/node"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as HashMap from "effect/HashMap"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"

/** A port that was free a moment ago (the fake server only accepts registered redirect URIs). */
const freePort = Effect.async<number>((resume) => {
  const server = Http.createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** A listener that holds a port for the test's scope. */
const occupiedPort = Effect.acquireRelease(
  Effect.async<Http.Server>((resume) => {
    const server = Http.createServer((_, response) => response.end())
    server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
  }),
  (server) =>
    Effect.async<void>((resume) => {
      server.close(() => resume(Effect.void))
    })
).pipe(Effect.map((server) => (server.address() as AddressInfo).port))

const layerFor = (port: number) =>
  AccessTokens.layer().pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(OAuthTest.layer({
      server: {
        clients: [{
          ...FakeAuthorizationServer.defaultClient,
          redirectUris: [`http://127.0.0.1:${port}/callback`]
        }]
      }
    }))
  )

interface Page {
  readonly status: number
  readonly body: string
}

const get = (url: string | URL) =>
  Effect.promise(() =>
    fetch(url).then(async (response): Promise<Page> => ({ status: response.status, body: await response.text() }))
  )

/** A GET with a chosen Host header (fetch sets its own). */
const getWithHost = (url: URL, host: string) =>
  Effect.async<number>((resume) => {
    const request = Http.request(url, { headers: { host } }, (response) => {
      response.resume()
      response.on("end", () => resume(Effect.succeed(response.statusCode ?? 0)))
    })
    request.end()
  })

const fake = FakeAuthorizationServer.FakeAuthorizationServer

/** True when nothing listens on the port any more. */
const closed = (port: number) =>
  Effect.promise(() => fetch(`http://127.0.0.1:${port}/callback`).then(() => false, () => true))

describe("NodeLoopbackLogin", () => {
  it.scopedLive("a browser sign-in through 127.0.0.1 saves the tokens and shows a close-this-tab page (S4)", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Effect.gen(function*() {
        const server = yield* fake
        const page = yield* Ref.make<Option.Option<Page>>(Option.none())
        const shown = yield* Ref.make<Option.Option<URL>>(Option.none())
        const tokens = yield* NodeLoopbackLogin.login({
          port,
          key: "cli-user",
          onUrl: (url) =>
            Effect.gen(function*() {
              yield* Ref.set(shown, Option.some(url))
              const callbackUrl = yield* Effect.orDie(server.approve(url))
              yield* Ref.set(page, Option.some(yield* get(callbackUrl)))
            })
        })
        const redirectUri = `http://127.0.0.1:${port}/callback`
        const url = Option.getOrThrow(yield* Ref.get(shown))
        assert.strictEqual(url.searchParams.get("redirect_uri"), redirectUri)
        const exchange = (yield* server.requests).find((request) => request.grantType === "authorization_code")
        assert.strictEqual(exchange?.form["redirect_uri"], redirectUri)

        const shownPage = Option.getOrThrow(yield* Ref.get(page))
        assert.strictEqual(shownPage.status, 200)
        assert.include(shownPage.body, "You can close this tab")
        assert.notInclude(shownPage.body, Redacted.value(tokens.accessToken))

        const [grant] = yield* server.grants
        assert.strictEqual(Redacted.value(tokens.accessToken), grant?.accessTokens[0])
        const stored = yield* Effect.flatMap(TokenStore.TokenStore, (store) => store.get("cli-user"))
        assert.strictEqual(
          Option.map(stored, (record) => Redacted.value(record.tokens.accessToken)).pipe(Option.getOrUndefined),
          grant?.accessTokens[0]
        )
        assert.isTrue(yield* closed(port))
      }).pipe(Effect.provide(layerFor(port)))
    }))

  it.scopedLive("openBrowser, when given, is called with the authorization URL in the background", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Effect.gen(function*() {
        const server = yield* fake
        const opened = yield* Ref.make(0)
        const tokens = yield* NodeLoopbackLogin.login({
          port,
          onUrl: () => Effect.void,
          openBrowser: (url) =>
            Effect.gen(function*() {
              yield* Ref.update(opened, (n) => n + 1)
              yield* get(yield* Effect.orDie(server.approve(url)))
            })
        })
        assert.strictEqual(yield* Ref.get(opened), 1)
        assert.strictEqual((yield* server.counters).authorizationCode, 1)
        assert.isTrue(Redacted.value(tokens.accessToken).length > 0)
      }).pipe(Effect.provide(layerFor(port)))
    }))

  it.scopedLive("unrelated requests and callbacks with another state are answered and do not end the wait (S6)", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Effect.gen(function*() {
        const server = yield* fake
        const pages = yield* Ref.make<ReadonlyArray<Page>>([])
        const tokens = yield* NodeLoopbackLogin.login({
          port,
          onUrl: (url) =>
            Effect.gen(function*() {
              const base = `http://127.0.0.1:${port}`
              for (
                const path of [
                  "/favicon.ico",
                  "/",
                  "/callback?code=stolen&state=wrong",
                  "/callback?code=stolen",
                  `/callback?code=x&state=${url.searchParams.get("state")}&state=other`
                ]
              ) {
                const page = yield* get(base + path)
                yield* Ref.update(pages, (all) => [...all, page])
              }
              // The right callback, sent to another host name (DNS rebinding), is ignored too.
              const callbackUrl = yield* Effect.orDie(server.approve(url))
              const rebound = yield* getWithHost(callbackUrl, `evil.example:${port}`)
              yield* Ref.update(pages, (all) => [...all, { status: rebound, body: "" }])
              yield* get(callbackUrl)
            })
        })
        const statuses = (yield* Ref.get(pages)).map((page) => page.status)
        assert.deepStrictEqual(statuses, [404, 404, 400, 400, 400, 404])
        assert.strictEqual((yield* server.counters).authorizationCode, 1)
        assert.isTrue(Redacted.value(tokens.accessToken).length > 0)
      }).pipe(Effect.provide(layerFor(port)))
    }))

  it.scopedLive("a denied authorization ends the login with AuthorizationDenied and a failure page (S7)", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      yield* Effect.gen(function*() {
        const server = yield* fake
        const page = yield* Ref.make<Option.Option<Page>>(Option.none())
        const error = yield* NodeLoopbackLogin.login({
          port,
          onUrl: (url) =>
            Effect.flatMap(
              Effect.orDie(server.deny(url)),
              (callbackUrl) => Effect.flatMap(get(callbackUrl), (shown) => Ref.set(page, Option.some(shown)))
            )
        }).pipe(Effect.flip)
        assert.instanceOf(error, OAuthError.AuthorizationDenied)
        const shown = Option.getOrThrow(yield* Ref.get(page))
        assert.strictEqual(shown.status, 400)
        assert.include(shown.body, "You declined access")
        assert.include(shown.body, "You can close this tab")
        assert.strictEqual((yield* server.counters).authorizationCode, 0)
        assert.isTrue(yield* closed(port))
      }).pipe(Effect.provide(layerFor(port)))
    }))

  it.scopedLive("a failed loopback sign-in is logged at Warning with its reason and code, a started one at Debug, never the URL's state", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const logs: Array<{ level: string; message: string; annotations: Record<string, unknown> }> = []
      const capture = Logger.make(({ annotations, logLevel, message }) => {
        logs.push({
          level: logLevel.label,
          message: Array.isArray(message) ? message.join(" ") : String(message),
          annotations: Object.fromEntries(HashMap.toEntries(annotations))
        })
      })
      const urls: Array<URL> = []
      yield* Effect.gen(function*() {
        const server = yield* fake
        yield* NodeLoopbackLogin.login({
          port,
          onUrl: (url) => {
            urls.push(url)
            return Effect.flatMap(Effect.orDie(server.deny(url)), get)
          }
        }).pipe(Effect.flip)
      }).pipe(
        Effect.provide(layerFor(port)),
        Effect.provide(Logger.replace(Logger.defaultLogger, capture)),
        Logger.withMinimumLogLevel(LogLevel.Debug)
      )
      assert.isTrue(logs.some((log) => log.level === "DEBUG" && log.message === "sign-in started"))
      const failed = logs.find((log) => log.message === "sign-in failed")
      assert.strictEqual(failed?.level, "WARN")
      assert.strictEqual(failed?.annotations["oauth.reason"], "AuthorizationDenied")
      assert.strictEqual(failed?.annotations["oauth.error"], "access_denied")
      const state = urls[0]?.searchParams.get("state") ?? ""
      assert.isAbove(state.length, 8)
      assert.notInclude(JSON.stringify(logs), state)
    }))

  it.scopedLive("no callback in time is a LoopbackLoginError Timeout; the redirect_uri is loopback on a random port", () =>
    Effect.gen(function*() {
      const shown = yield* Ref.make<Option.Option<URL>>(Option.none())
      const error = yield* NodeLoopbackLogin.login({
        timeout: "200 millis",
        onUrl: (url) => Ref.set(shown, Option.some(url))
      }).pipe(Effect.flip, Effect.provide(OAuthTest.layer()))
      assert.instanceOf(error, NodeLoopbackLogin.LoopbackLoginError)
      assert.strictEqual(error._tag === "LoopbackLoginError" ? error.reason : "", "Timeout")
      const redirectUri = Option.getOrThrow(yield* Ref.get(shown)).searchParams.get("redirect_uri") ?? ""
      const match = /^http:\/\/127\.0\.0\.1:(\d+)\/callback$/.exec(redirectUri)
      assert.isNotNull(match)
      const port = Number(match?.[1])
      assert.isAbove(port, 0)
      assert.isTrue(yield* closed(port))
    }))

  it.scopedLive("a port already in use is a LoopbackLoginError PortInUse", () =>
    Effect.gen(function*() {
      const port = yield* occupiedPort
      const error = yield* NodeLoopbackLogin.login({ port, onUrl: () => Effect.void }).pipe(
        Effect.flip,
        Effect.provide(OAuthTest.layer())
      )
      assert.instanceOf(error, NodeLoopbackLogin.LoopbackLoginError)
      assert.deepStrictEqual(
        error._tag === "LoopbackLoginError" ? { reason: error.reason, port: error.port } : {},
        { reason: "PortInUse", port }
      )
    }))
})
