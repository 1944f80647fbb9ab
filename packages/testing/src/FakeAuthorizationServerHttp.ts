/**
 * The fake authorization server as an `HttpApp`, to serve it over real HTTP on any platform: everything
 * the in-memory fake answers (token, revocation, protected API, metadata), plus the authorization
 * endpoint as a browser page, a small "login and consent" screen whose buttons approve or deny the
 * request and redirect to the client's callback.
 *
 * Every request goes to the `FakeAuthorizationServer` in context, so a test reads its log and counters
 * and injects faults exactly as with the in-memory fake.
 *
 * @since 0.1.0
 */
import * as Html from "@effect-oauth/core/Html"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpBody from "@effect/platform/HttpBody"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import { FakeAuthorizationServer } from "./FakeAuthorizationServer.js"
import type * as Fake from "./FakeAuthorizationServer.js"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * @example
 * ```ts
 * import { FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // On a platform that cannot destroy a socket: answer 502 and close.
 * const options: FakeAuthorizationServerHttp.Options = {
 *   dropConnection: Effect.succeed(HttpServerResponse.empty({ status: 502, headers: { connection: "close" } }))
 * }
 * const app = FakeAuthorizationServerHttp.make(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Ends the connection without an answer: what the `TransportError` and `CommitThenDrop` faults do over
   * HTTP. This is platform-specific (`NodeFakeAuthorizationServer` destroys the socket); the default, for
   * platforms without a way to do it, answers an empty 502 with `connection: close`.
   */
  readonly dropConnection?:
    | Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>
    | undefined
  /**
   * Starts an answer and never finishes its headers: what the `StalledHeaders` fault does over HTTP. This
   * is platform-specific (`NodeFakeAuthorizationServer` writes the status line and part of the headers to
   * the socket); the default, for platforms without a way to do it, never answers at all.
   */
  readonly stallHeaders?:
    | ((
      status: number,
      headers: Readonly<Record<string, string>>
    ) => Effect.Effect<HttpServerResponse.HttpServerResponse, never, HttpServerRequest.HttpServerRequest>)
    | undefined
}

/**
 * Names of the consent form's own fields. Every other field of the form is a parameter of the original
 * authorization request, kept in a hidden input.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 *
 * // The body a browser posts when the user approves as "ann".
 * const form = new URLSearchParams({
 *   [FakeAuthorizationServerHttp.formFields.decision]: "approve",
 *   [FakeAuthorizationServerHttp.formFields.user]: "ann"
 * })
 * assert.strictEqual(form.toString(), "consent_decision=approve&consent_user=ann")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const formFields = {
  /** `approve` or `deny`: the value of the clicked button. */
  decision: "consent_decision",
  /** The user to sign in; empty means the fake's `defaultUser`. */
  user: "consent_user"
} as const

// -----------------------------------------------------------------------------
// utils
// -----------------------------------------------------------------------------

/**
 * Escapes a value for HTML text and double- or single-quoted attributes.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 *
 * const escaped = FakeAuthorizationServerHttp.escapeHtml(`<a href="x">'&'</a>`)
 * assert.ok(!escaped.includes("<") && !escaped.includes("\"") && !escaped.includes("'"))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const escapeHtml: (value: string) => string = Html.escape

const hopByHop = new Set([
  "connection",
  "content-length",
  "expect",
  "host",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade"
])

const withoutHopByHop = (headers: Readonly<Record<string, string>>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).filter(([name]) => !hopByHop.has(name.toLowerCase())))

const pageHeaders = {
  "cache-control": "no-store",
  pragma: "no-cache",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer"
}

const style = `
  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: flex; align-items: center; justify-content: center;
    font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f4f5fb; color: #1b1d2b; }
  main { width: 100%; max-width: 26rem; background: #fff; border-radius: 12px; padding: 2rem;
    box-shadow: 0 8px 30px rgba(27, 29, 43, .12); }
  .brand { display: flex; align-items: center; gap: .5rem; font-weight: 700; font-size: 1.25rem; margin-bottom: 1.5rem; }
  .logo { width: 1.75rem; height: 1.75rem; border-radius: 8px; background: linear-gradient(135deg, #5b5bf7, #9b5cf6); }
  .badge { font-size: .7rem; font-weight: 600; text-transform: uppercase; color: #5b5bf7; border: 1px solid #5b5bf7;
    border-radius: 999px; padding: .1rem .5rem; }
  h1 { font-size: 1.1rem; margin: 0 0 1rem; }
  code { background: #f0f0f7; border-radius: 4px; padding: .05rem .3rem; word-break: break-all; }
  label { display: block; font-weight: 600; font-size: .9rem; margin: 1rem 0 .35rem; }
  input[type=text] { width: 100%; padding: .6rem .75rem; border: 1px solid #cfd2e3; border-radius: 8px; font-size: 1rem; }
  ul { padding-left: 1.2rem; }
  .actions { display: flex; gap: .75rem; margin-top: 1.5rem; }
  button { flex: 1; padding: .7rem; border-radius: 8px; font-size: 1rem; font-weight: 600; cursor: pointer; }
  #approve { background: #5b5bf7; color: #fff; border: 1px solid #5b5bf7; }
  #deny { background: #fff; color: #1b1d2b; border: 1px solid #cfd2e3; }
  .note { color: #6b6f85; font-size: .8rem; margin-top: 1.5rem; }
  .error { color: #b42318; }
`

const page = (title: string, body: string): string =>
  `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${style}</style>
</head>
<body>
<main>
<div class="brand"><span class="logo"></span>Credal <span class="badge">mock</span></div>
${body}
<p class="note">Fake authorization server for tests: no password is asked and nothing leaves this machine.</p>
</main>
</body>
</html>
`

/**
 * The login and consent page for a valid authorization request: the client, the requested scopes, a
 * username field (`#username`) and the buttons `#approve` and `#deny`, which POST the original request's
 * parameters (hidden inputs) back to `action`. Every interpolated value is HTML-escaped.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 *
 * const page = FakeAuthorizationServerHttp.consentPage({
 *   action: "/api/oauth/authorize",
 *   clientId: "test-client",
 *   redirectUri: "http://127.0.0.1:3000/callback",
 *   scope: ["read"],
 *   defaultUser: "test-user",
 *   params: new URLSearchParams({ client_id: "test-client", state: "<s>" })
 * })
 * assert.ok(page.includes(`id="approve"`))
 * assert.ok(!page.includes("<s>")) // escaped
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const consentPage = (options: {
  readonly action: string
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: ReadonlyArray<string>
  readonly defaultUser: string
  readonly params: URLSearchParams
}): string => {
  const hidden = Array.from(
    options.params,
    ([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`
  ).join("\n")
  const scopes = options.scope.length === 0
    ? "<li>no particular scope</li>"
    : options.scope.map((scope) => `<li><code>${escapeHtml(scope)}</code></li>`).join("\n")
  return page(
    "Sign in to Credal (mock)",
    `<h1>Sign in to continue to <code id="client-id">${escapeHtml(options.clientId)}</code></h1>
<form method="post" action="${escapeHtml(options.action)}">
<label for="username">Username</label>
<input type="text" id="username" name="${formFields.user}" value="${
      escapeHtml(options.defaultUser)
    }" autocomplete="username" autofocus>
<p><strong>${escapeHtml(options.clientId)}</strong> asks for:</p>
<ul id="scopes">
${scopes}
</ul>
<p>You will be sent back to <code id="redirect-uri">${escapeHtml(options.redirectUri)}</code>.</p>
${hidden}
<div class="actions">
<button type="submit" id="approve" name="${formFields.decision}" value="approve">Approve</button>
<button type="submit" id="deny" name="${formFields.decision}" value="deny">Deny</button>
</div>
</form>`
  )
}

/**
 * The page shown instead of a redirect when the request cannot be sent back to the client: unknown
 * client, unregistered redirect URI (RFC 6749 §4.1.2.1). Every interpolated value is HTML-escaped.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 *
 * const page = FakeAuthorizationServerHttp.errorPage("InvalidClient", "unknown client_id <nobody>")
 * assert.ok(page.includes("InvalidClient"))
 * assert.ok(!page.includes("<nobody>"))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const errorPage = (reason: string, description: string): string =>
  page(
    "Authorization error (mock Credal)",
    `<h1 class="error">This authorization request cannot be processed</h1>
<p id="error-reason"><code>${escapeHtml(reason)}</code></p>
<p id="error-description">${escapeHtml(description)}</p>
<p>Check the <code>client_id</code>, the <code>redirect_uri</code> and the endpoint of the authorization URL.</p>`
  )

const htmlResponse = (status: number, html: string) =>
  HttpServerResponse.text(html, {
    status,
    contentType: "text/html; charset=utf-8",
    headers: pageHeaders
  })

const redirectResponse = (location: URL) =>
  HttpServerResponse.redirect(location, {
    status: 302,
    headers: { "cache-control": "no-store", pragma: "no-cache", "referrer-policy": "no-referrer" }
  })

const refused = (error: Fake.FakeAuthorizationError) => htmlResponse(400, errorPage(error.reason, error.description))

const defaultDrop = Effect.succeed(HttpServerResponse.empty({ status: 502, headers: { connection: "close" } }))

const nullBodyStatuses = new Set([101, 204, 205, 304])

/**
 * The fake's client response as a server response: status, headers and body, read in full; a stalled
 * body (`StalledBody`) is streamed as it comes, so that the socket stalls after the headers and the
 * first bytes.
 */
const toServerResponse = (response: HttpClientResponse.HttpClientResponse, stalled: boolean) => {
  const headers = withoutHopByHop(response.headers)
  if (nullBodyStatuses.has(response.status)) {
    return Effect.succeed(HttpServerResponse.empty({ status: response.status, headers }))
  }
  if (stalled) return Effect.succeed(HttpServerResponse.stream(response.stream, { status: response.status, headers }))
  return Effect.map(Effect.orDie(response.arrayBuffer), (buffer) =>
    buffer.byteLength === 0
      ? HttpServerResponse.empty({ status: response.status, headers })
      : HttpServerResponse.uint8Array(new Uint8Array(buffer), { status: response.status, headers }))
}

const defaultStallHeaders = () => Effect.never

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Builds the `HttpApp` of the fake server in context:
 *
 * - `GET {authorizationPath}?…` checks the request like `approve` (`FakeAuthorizationServer.prompt`): a bad
 *   client or redirect URI is an HTML 400 page and never a redirect, another invalid parameter redirects
 *   with the error at once, a valid request shows the consent page (`consentPage`).
 * - `POST {authorizationPath}` with the consent form: `approve` (as the user typed in `#username`) or
 *   `deny`, then a 302 to the callback URL.
 * - Everything else goes to the fake's `handle`: token, revocation, the protected API under the API base
 *   path, the metadata documents, 404 for the rest. Request and response are copied as they are (method,
 *   URL, headers, body; status, headers, body), so the fake's strict checks and faults apply unchanged.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 * import { HttpServerRequest } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // The app answers a request without a server: here the consent page of a valid authorization request.
 * const app = FakeAuthorizationServerHttp.make()
 * const query = "response_type=code&client_id=test-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A3000%2Fcallback&state=s"
 * const request = HttpServerRequest.fromWeb(new Request(`https://app.credal.ai/api/oauth/authorize?${query}`))
 * const response = await Effect.runPromise(
 *   app.pipe(
 *     Effect.provideService(HttpServerRequest.HttpServerRequest, request),
 *     Effect.provide(FakeAuthorizationServer.layer())
 *   )
 * )
 * assert.strictEqual(response.status, 200)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options?: Options
): HttpApp.Default<never, FakeAuthorizationServer> =>
  Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer
    const request = yield* HttpServerRequest.HttpServerRequest
    const authorization = new URL(server.endpoints.authorization)
    const url = new URL(request.url, authorization.origin)
    if (url.pathname === authorization.pathname) {
      if (request.method === "GET" || request.method === "HEAD") {
        return yield* server.prompt(url).pipe(
          Effect.map((prompt) =>
            prompt._tag === "Redirect" ? redirectResponse(prompt.url) : htmlResponse(
              200,
              consentPage({
                action: authorization.pathname,
                clientId: prompt.clientId,
                redirectUri: prompt.redirectUri,
                scope: prompt.scope,
                defaultUser: server.options.defaultUser,
                params: url.searchParams
              })
            )
          ),
          Effect.catchTag("FakeAuthorizationError", (error) => Effect.succeed(refused(error)))
        )
      }
      if (request.method === "POST") return yield* decide(server, request, url)
      return htmlResponse(405, errorPage("MethodNotAllowed", "use GET for the page and POST for the decision"))
        .pipe(HttpServerResponse.setHeader("allow", "GET, POST"))
    }
    const body = yield* Effect.either(request.arrayBuffer)
    if (body._tag === "Left") {
      return HttpServerResponse.unsafeJson(
        { error: "invalid_request", error_description: "the request body could not be read" },
        { status: 400 }
      )
    }
    const forwarded = HttpClientRequest.make(request.method)(url).pipe(
      HttpClientRequest.setBody(HttpBody.raw(new Uint8Array(body.right))),
      HttpClientRequest.setHeaders(withoutHopByHop(request.headers))
    )
    return yield* server.answer(forwarded).pipe(
      Effect.matchEffect({
        onFailure: () => options?.dropConnection ?? defaultDrop,
        onSuccess: (answer) =>
          answer._tag === "Response"
            ? toServerResponse(answer.response, answer.stalled === true)
            : (options?.stallHeaders ?? defaultStallHeaders)(answer.status, withoutHopByHop(answer.headers))
      })
    )
  })

const decide = (
  server: FakeAuthorizationServer.Service,
  request: HttpServerRequest.HttpServerRequest,
  url: URL
) =>
  Effect.gen(function*() {
    const contentType = request.headers["content-type"] ?? ""
    const text = yield* Effect.either(request.text)
    if (!/^application\/x-www-form-urlencoded\s*(;.*)?$/i.test(contentType.trim()) || text._tag === "Left") {
      return htmlResponse(
        400,
        errorPage("InvalidForm", "the decision must be an application/x-www-form-urlencoded form")
      )
    }
    const form = new URLSearchParams(text.right)
    const decision = form.getAll(formFields.decision)
    const user = form.get(formFields.user) ?? ""
    const authorizationUrl = new URL(server.endpoints.authorization)
    authorizationUrl.search = url.search
    for (const [name, value] of form) {
      if (name !== formFields.decision && name !== formFields.user) authorizationUrl.searchParams.append(name, value)
    }
    const chosen = decision.length === 1 ? decision[0] : undefined
    if (chosen !== "approve" && chosen !== "deny") {
      return htmlResponse(400, errorPage("InvalidForm", `${formFields.decision} must be approve or deny`))
    }
    const callback = chosen === "approve"
      ? server.approve(authorizationUrl, { user: user.length > 0 ? user : server.options.defaultUser })
      : server.deny(authorizationUrl)
    return yield* callback.pipe(
      Effect.map(redirectResponse),
      Effect.catchTag("FakeAuthorizationError", (error) => Effect.succeed(refused(error)))
    )
  })

/**
 * The `HttpApp` of the fake server in context, with the platform-neutral `dropConnection` (see `make`).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 * import { HttpServer } from "@effect/platform"
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * // Serves the fake on port 4000 of this machine when launched (`Layer.launch(ServerLive)`).
 * const ServerLive = HttpServer.serve(FakeAuthorizationServerHttp.httpApp).pipe(
 *   Layer.provide(FakeAuthorizationServer.layer({ issuer: "http://127.0.0.1:4000" })),
 *   Layer.provide(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 4000 }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const httpApp: HttpApp.Default<never, FakeAuthorizationServer> = make()
