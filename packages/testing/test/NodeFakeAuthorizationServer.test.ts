import { OAuthClient, OAuthConfig, OAuthError } from "@effect-oauth/core"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpServer from "@effect/platform/HttpServer"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Net from "node:net"
import * as FakeAuthorizationServer from "../src/FakeAuthorizationServer.js"
import * as FakeAuthorizationServerHttp from "../src/FakeAuthorizationServerHttp.js"
import * as NodeFakeAuthorizationServer from "../src/NodeFakeAuthorizationServer.js"
import * as OAuthTest from "../src/OAuthTest.js"

const { Fault } = FakeAuthorizationServer
const Server = FakeAuthorizationServer.FakeAuthorizationServer
const redirectUri = "http://127.0.0.1:3000/callback"

type Env = FakeAuthorizationServer.FakeAuthorizationServer | HttpServer.HttpServer | HttpClient.HttpClient

/** A fresh fake on a random loopback port and the live undici client, for the duration of `effect`. */
const withServer = (options?: NodeFakeAuthorizationServer.Options) => <A, E>(effect: Effect.Effect<A, E, Env>) =>
  Effect.provide(effect, Layer.merge(NodeFakeAuthorizationServer.layer(options), NodeHttpClient.layerUndici))

/** The OAuth client configured for the served fake (Credal preset, endpoints on the listening origin). */
const oauthClient = Effect.gen(function*() {
  const server = yield* Server
  return yield* OAuthClient.make.pipe(Effect.provide(OAuthConfig.layer(OAuthTest.clientOptions(server.options))))
})

interface Answer {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  readonly text: string
}

const send = (request: HttpClientRequest.HttpClientRequest) =>
  Effect.gen(function*() {
    const client = yield* HttpClient.HttpClient
    const response = yield* client.execute(request)
    return { status: response.status, headers: response.headers, text: yield* response.text } satisfies Answer
  })

const unescapeHtml = (value: string) =>
  value.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))

/** The consent form of a page: its action and every hidden field, as the browser would send them. */
const formOf = (html: string) => {
  const action = /<form method="post" action="([^"]*)">/.exec(html)?.[1]
  assert.isDefined(action, "the page has a POST form")
  const fields = Array.from(
    html.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g),
    (match): [string, string] => [unescapeHtml(match[1] ?? ""), unescapeHtml(match[2] ?? "")]
  )
  return { action: unescapeHtml(action ?? ""), fields }
}

/** Clicks a button of the consent page: POSTs the form with the decision and the username. */
const submit = (
  origin: string,
  html: string,
  decision: "approve" | "deny",
  user?: string
) => {
  const form = formOf(html)
  const body = new URLSearchParams(form.fields)
  if (user !== undefined) body.append(FakeAuthorizationServerHttp.formFields.user, user)
  body.append(FakeAuthorizationServerHttp.formFields.decision, decision)
  return send(HttpClientRequest.post(new URL(form.action, origin)).pipe(HttpClientRequest.bodyUrlParams(body)))
}

const locationOf = (answer: Answer) => {
  assert.strictEqual(answer.status, 302, answer.text)
  const location = answer.headers["location"]
  assert.isDefined(location)
  return new URL(location ?? "")
}

describe("NodeFakeAuthorizationServer", () => {
  it.scopedLive(
    "the whole flow over real HTTP: page, approve, callback with state and iss, exchange, API, rotation, revocation (S4, S8, S10, S17, S30)",
    () =>
      withServer()(Effect.gen(function*() {
        const server = yield* Server
        const origin = yield* NodeFakeAuthorizationServer.url
        assert.match(origin, /^http:\/\/127\.0\.0\.1:\d+$/)
        assert.strictEqual(server.endpoints.issuer, origin)
        assert.strictEqual(server.endpoints.token, `${origin}/api/oauth/token`)
        const oauth = yield* oauthClient

        const { pending, url } = yield* oauth.authorize()
        assert.strictEqual(url.origin, origin)
        const page = yield* send(HttpClientRequest.get(url))
        assert.strictEqual(page.status, 200)
        assert.match(page.headers["content-type"] ?? "", /^text\/html/)
        assert.strictEqual(page.headers["cache-control"], "no-store")
        assert.include(page.text, `<code id="client-id">test-client</code>`)
        assert.include(page.text, "<code>api:agent:message:*</code>")
        assert.include(page.text, `id="username" name="consent_user" value="test-user"`)
        assert.include(page.text, `id="approve"`)
        assert.include(page.text, `id="deny"`)
        assert.deepStrictEqual(formOf(page.text).fields, Array.from(url.searchParams))
        assert.strictEqual((yield* server.counters).authorize, 0, "viewing the page decides nothing")

        const callback = locationOf(yield* submit(origin, page.text, "approve", "alice"))
        assert.strictEqual(callback.origin + callback.pathname, redirectUri)
        assert.isNotNull(callback.searchParams.get("code"))
        assert.strictEqual(callback.searchParams.get("state"), Redacted.value(pending.state))
        assert.strictEqual(callback.searchParams.get("iss"), origin)

        const tokens = yield* oauth.complete(callback, pending)
        const whoami = (token: Redacted.Redacted<string>) =>
          send(HttpClientRequest.get(`${server.endpoints.apiBase}/whoami`).pipe(HttpClientRequest.bearerToken(token)))
        const me = yield* whoami(tokens.accessToken)
        assert.strictEqual(me.status, 200)
        assert.deepStrictEqual(JSON.parse(me.text), { user: "alice", clientId: "test-client" })

        const refreshed = yield* oauth.refresh(tokens)
        const oldRefresh = Redacted.value(Option.getOrThrow(tokens.refreshToken))
        const newRefresh = Option.getOrThrow(refreshed.refreshToken)
        assert.notStrictEqual(Redacted.value(newRefresh), oldRefresh)
        assert.isFalse(yield* server.isRefreshTokenValid(oldRefresh))
        assert.strictEqual((yield* whoami(refreshed.accessToken)).status, 200)

        assert.strictEqual(yield* oauth.revoke(newRefresh), "revoked")
        assert.isFalse(yield* server.isRefreshTokenValid(Redacted.value(newRefresh)))
        assert.strictEqual((yield* whoami(refreshed.accessToken)).status, 401)

        const log = yield* server.requests
        const exchange = log.find((entry) => entry.grantType === "authorization_code")
        assert.strictEqual(exchange?.url, `${origin}/api/oauth/token`)
        assert.strictEqual(exchange?.headers["content-type"], "application/x-www-form-urlencoded")
        assert.strictEqual(exchange?.form["redirect_uri"], redirectUri)
        assert.deepStrictEqual(yield* server.counters, {
          authorize: 1,
          token: 2,
          authorizationCode: 1,
          refreshToken: 1,
          revoke: 1,
          api: 3,
          reusedRefreshTokens: 0
        })
      }))
  )

  it.scopedLive("the metadata documents name the listening origin and its loopback http endpoints (S27, S31)", () =>
    withServer()(Effect.gen(function*() {
      const origin = yield* NodeFakeAuthorizationServer.url
      for (const path of ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"]) {
        const answer = yield* send(HttpClientRequest.get(`${origin}${path}`))
        assert.strictEqual(answer.status, 200, path)
        assert.match(answer.headers["content-type"] ?? "", /^application\/json/)
        const document: unknown = JSON.parse(answer.text)
        assert.deepInclude(document, {
          issuer: origin,
          authorization_endpoint: `${origin}/api/oauth/authorize`,
          token_endpoint: `${origin}/api/oauth/token`,
          revocation_endpoint: `${origin}/api/oauth/revoke`,
          code_challenge_methods_supported: ["S256"],
          authorization_response_iss_parameter_supported: true
        })
      }
      const config = yield* OAuthConfig.discover(origin).pipe(
        Effect.flatMap((metadata) =>
          OAuthConfig.fromMetadata(metadata, {
            clientId: "test-client",
            clientSecret: Redacted.make("test-secret"),
            redirectUri
          })
        ),
        Effect.flatMap(OAuthConfig.make)
      )
      assert.strictEqual(config.tokenEndpoint.href, `${origin}/api/oauth/token`)
      assert.deepStrictEqual(config.issuer, Option.some(origin))
    })))

  it.scopedLive("deny redirects to the callback with error=access_denied, the state and iss (S7)", () =>
    withServer()(Effect.gen(function*() {
      const origin = yield* NodeFakeAuthorizationServer.url
      const oauth = yield* oauthClient
      const { pending, url } = yield* oauth.authorize()
      const page = yield* send(HttpClientRequest.get(url))
      const callback = locationOf(yield* submit(origin, page.text, "deny"))
      assert.strictEqual(callback.origin + callback.pathname, redirectUri)
      assert.strictEqual(callback.searchParams.get("error"), "access_denied")
      assert.strictEqual(callback.searchParams.get("state"), Redacted.value(pending.state))
      assert.isFalse(callback.searchParams.has("code"))
      const error = yield* Effect.flip(oauth.complete(callback, pending))
      assert.strictEqual(error._tag, "AuthorizationDenied")
      assert.strictEqual((error as OAuthError.AuthorizationDenied).error, "access_denied")
    })))

  it.scopedLive("a bad redirect_uri or client_id is an HTML 400 page, never a redirect (RFC 6749 §4.1.2.1)", () =>
    withServer()(Effect.gen(function*() {
      const server = yield* Server
      const bad = [
        { client_id: "test-client", redirect_uri: "https://evil.example/callback" },
        { client_id: "test-client", redirect_uri: `${redirectUri}/` },
        { client_id: "nobody", redirect_uri: redirectUri }
      ]
      for (const params of bad) {
        const url = new URL(server.endpoints.authorization)
        for (const [name, value] of Object.entries({ response_type: "code", state: "s", ...params })) {
          url.searchParams.set(name, value)
        }
        const answer = yield* send(HttpClientRequest.get(url))
        assert.strictEqual(answer.status, 400, url.href)
        assert.isUndefined(answer.headers["location"])
        assert.match(answer.headers["content-type"] ?? "", /^text\/html/)
        assert.notInclude(answer.text, "evil.example")
        const posted = yield* send(
          HttpClientRequest.post(server.endpoints.authorization).pipe(
            HttpClientRequest.bodyUrlParams({ ...Object.fromEntries(url.searchParams), consent_decision: "approve" })
          )
        )
        assert.strictEqual(posted.status, 400)
        assert.isUndefined(posted.headers["location"])
      }
      assert.isEmpty(yield* server.grants)
    })))

  it.scopedLive("an unsupported scope redirects at once with invalid_scope and the state (S7)", () =>
    withServer()(Effect.gen(function*() {
      const server = yield* Server
      const url = new URL(server.endpoints.authorization)
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: "test-client",
        redirect_uri: redirectUri,
        scope: "admin",
        state: "st"
      }).toString()
      const callback = locationOf(yield* send(HttpClientRequest.get(url)))
      assert.strictEqual(callback.searchParams.get("error"), "invalid_scope")
      assert.strictEqual(callback.searchParams.get("state"), "st")
    })))

  it.scopedLive("hostile client id, scope and state are HTML-escaped and come back unchanged (S28)", () =>
    withServer({
      server: {
        clients: [{ ...FakeAuthorizationServer.defaultClient, clientId: `"><img src=x onerror=alert(1)>` }],
        scopes: ["<script>alert('scope')</script>"]
      }
    })(Effect.gen(function*() {
      const server = yield* Server
      const origin = yield* NodeFakeAuthorizationServer.url
      const state = `"'><script>alert("state")</script>&amp;`
      const url = new URL(server.endpoints.authorization)
      url.search = new URLSearchParams({
        response_type: "code",
        client_id: `"><img src=x onerror=alert(1)>`,
        redirect_uri: redirectUri,
        scope: "<script>alert('scope')</script>",
        state
      }).toString()
      const page = yield* send(HttpClientRequest.get(url))
      assert.strictEqual(page.status, 200, page.text)
      assert.notInclude(page.text, "<script>")
      assert.notInclude(page.text, "<img")
      assert.notInclude(page.text, `"'>`)
      assert.include(page.text, "&#60;script&#62;alert(&#39;scope&#39;)&#60;/script&#62;")
      assert.include(page.text, "&#34;&#62;&#60;img src=x onerror=alert(1)&#62;")
      const callback = locationOf(yield* submit(origin, page.text, "approve"))
      assert.strictEqual(callback.searchParams.get("state"), state)
      assert.isNotNull(callback.searchParams.get("code"))

      const refused = new URL(url)
      refused.searchParams.set("redirect_uri", `https://x.example/"><script>alert(1)</script>`)
      const error = yield* send(HttpClientRequest.get(refused))
      assert.strictEqual(error.status, 400)
      assert.notInclude(error.text, "<script>")
    })))

  it.scopedLive("faults of the served fake apply over HTTP: a lost answer is a transport error, the code is not resent (S12, S22)", () =>
    withServer()(Effect.gen(function*() {
      const server = yield* Server
      const origin = yield* NodeFakeAuthorizationServer.url
      const oauth = yield* oauthClient
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "authorization_code" }))
      const first = yield* oauth.authorize()
      const firstPage = yield* send(HttpClientRequest.get(first.url))
      const lost = yield* Effect.flip(
        oauth.complete(locationOf(yield* submit(origin, firstPage.text, "approve")), first.pending)
      )
      assert.strictEqual(lost._tag, "HttpError")
      assert.strictEqual((lost as OAuthError.HttpError).reason, "Transport")
      assert.strictEqual((yield* server.counters).authorizationCode, 1)
      assert.lengthOf(yield* server.grants, 1, "the server committed the exchange")

      const second = yield* oauth.authorize()
      const secondPage = yield* send(HttpClientRequest.get(second.url))
      const tokens = yield* oauth.complete(
        locationOf(yield* submit(origin, secondPage.text, "approve")),
        second.pending
      )
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      const unknown = yield* Effect.flip(oauth.refresh(tokens))
      assert.strictEqual(unknown._tag, "RefreshOutcomeUnknown")
      yield* server.inject(Fault.Status({ endpoint: "api", status: 503, body: "busy" }))
      const busy = yield* send(
        HttpClientRequest.get(`${server.endpoints.apiBase}/whoami`).pipe(
          HttpClientRequest.bearerToken(tokens.accessToken)
        )
      )
      assert.strictEqual(busy.status, 503)
      assert.strictEqual(busy.text, "busy")
    })))

  it.scopedLive("the authorization endpoint wants a form with one decision, and GET or POST only (RFC 6749 §3.1)", () =>
    withServer()(Effect.gen(function*() {
      const server = yield* Server
      const oauth = yield* oauthClient
      const { url } = yield* oauth.authorize()
      const noDecision = yield* send(
        HttpClientRequest.post(server.endpoints.authorization).pipe(
          HttpClientRequest.bodyUrlParams(url.searchParams)
        )
      )
      assert.strictEqual(noDecision.status, 400)
      const notForm = yield* send(
        HttpClientRequest.post(server.endpoints.authorization).pipe(
          HttpClientRequest.bodyUnsafeJson({ consent_decision: "approve" })
        )
      )
      assert.strictEqual(notForm.status, 400)
      const put = yield* send(HttpClientRequest.put(url))
      assert.strictEqual(put.status, 405)
      assert.strictEqual(put.headers["allow"], "GET, POST")
      const viaQuery = new URL(url)
      const approved = yield* send(
        HttpClientRequest.post(viaQuery).pipe(HttpClientRequest.bodyUrlParams({ consent_decision: "approve" }))
      )
      assert.isNotNull(locationOf(approved).searchParams.get("code"))
      assert.isEmpty((yield* server.requests).filter((entry) => entry.endpoint === "token"))
    })))

  for (const fault of ["StalledBody", "StalledHeaders"] as const) {
    it.scopedLive(
      `over a real socket, ${
        fault === "StalledBody" ? "headers then a stalled body" : "headers that never finish"
      } end at the client's deadline (S32)`,
      () =>
        withServer()(Effect.gen(function*() {
          const server = yield* Server
          const oauth = yield* OAuthClient.make.pipe(
            Effect.provide(OAuthConfig.layer(OAuthTest.clientOptions(server.options, { requestTimeout: "300 millis" })))
          )
          const grant = yield* server.issueGrant()
          yield* server.inject(Fault[fault]({ endpoint: "token", grantType: "refresh_token" }))
          const error = yield* Effect.flip(oauth.refresh(Redacted.make(grant.refreshToken)))
          assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
          assert.strictEqual((error as OAuthError.RefreshOutcomeUnknown).reason, "Timeout")
          const [logged] = (yield* server.requests).filter((entry) => entry.fault === fault)
          assert.strictEqual(logged?.status, 200, "the server committed and started to answer")
        }))
    )
  }

  it.scopedLive("StalledHeaders writes the status line and part of the headers on the socket, then nothing (S32)", () =>
    withServer()(Effect.gen(function*() {
      const server = yield* Server
      yield* server.inject(Fault.StalledHeaders({ endpoint: "token" }))
      const url = new URL(server.endpoints.token)
      const received = yield* Effect.async<string>((resume) => {
        const socket = Net.connect(Number(url.port), url.hostname, () => {
          socket.write(
            `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: 0\r\n\r\n`
          )
        })
        let text = ""
        socket.on("data", (chunk) => {
          text += chunk.toString("latin1")
        })
        const timer = setTimeout(() => {
          socket.destroy()
          resume(Effect.succeed(text))
        }, 300)
        return Effect.sync(() => {
          clearTimeout(timer)
          socket.destroy()
        })
      })
      assert.match(received, /^HTTP\/1\.1 \d{3} /)
      assert.notInclude(received, "\r\n\r\n")
    })))
})
