/**
 * The HTML of the example: a home page, the dashboard and the failure pages. Every value that is not a
 * literal of this file goes through `escapeHtml`; no page ever holds a token.
 */
import { Html } from "@effect-oauth/core"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Option from "effect/Option"
import * as Crypto from "node:crypto"

/** Escapes text for HTML content and double- or single-quoted attribute values. */
export const escapeHtml: (text: string) => string = Html.escape

/** Counts down `#seconds-left` from its `data-expires-at` (epoch milliseconds) every second. */
const countdown = `(() => {
  const left = document.getElementById("seconds-left");
  const hint = document.getElementById("expiry-hint");
  if (left === null || hint === null) return;
  const expiresAt = Number(left.dataset.expiresAt);
  const refreshAt = Number(left.dataset.refreshAt);
  const tick = () => {
    const now = Date.now();
    left.textContent = String(Math.max(0, Math.round((expiresAt - now) / 1000)));
    hint.textContent = now >= refreshAt
      ? "The token is due for a refresh: reload the page and the app refreshes it before calling the API."
      : "Reload the page to call the API again with the same token.";
  };
  tick();
  setInterval(tick, 1000);
})();`

const countdownHash = `'sha256-${Crypto.createHash("sha256").update(countdown).digest("base64")}'`

/** Headers of every page: never cached, never framed, no referrer, and only this file's inline script. */
const headers = {
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "content-security-policy":
    `default-src 'none'; style-src 'unsafe-inline'; script-src ${countdownHash}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`
} as const

const style = `
  :root { color-scheme: light; }
  * { box-sizing: border-box; }
  body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: #f6f7fb;
    color: #1b1d2b; line-height: 1.5; }
  header { background: #fff; border-bottom: 1px solid #e3e5f0; }
  header div, main { max-width: 44rem; margin: 0 auto; padding: 1rem 1.25rem; }
  header div { display: flex; align-items: center; justify-content: space-between; }
  .brand { font-weight: 700; color: #1b1d2b; text-decoration: none; }
  main { padding-top: 2rem; }
  h1 { font-size: 1.6rem; margin: 0 0 1rem; }
  h2 { font-size: 1.1rem; margin: 0 0 .75rem; }
  section { background: #fff; border: 1px solid #e3e5f0; border-radius: 12px; padding: 1.25rem; margin-bottom: 1.25rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1rem; margin: 0; }
  dt { color: #6b6f85; }
  dd { margin: 0; font-weight: 600; word-break: break-word; }
  code { background: #f0f0f7; border-radius: 4px; padding: .05rem .3rem; }
  .button { display: inline-block; padding: .65rem 1.1rem; border-radius: 8px; font-weight: 600; font-size: 1rem;
    text-decoration: none; border: 1px solid #5b5bf7; background: #5b5bf7; color: #fff; cursor: pointer; }
  .secondary { background: #fff; color: #1b1d2b; border-color: #cfd2e3; }
  .muted { color: #6b6f85; font-size: .9rem; }
  .error { color: #b42318; }
  form { display: inline; margin: 0; }
`

/** A whole page. */
export const layout = (options: {
  readonly title: string
  readonly body: string
  readonly signedIn: boolean
  readonly script?: boolean | undefined
}): string =>
  `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(options.title)} · effect-oauth web app</title>
<style>${style}</style>
</head>
<body>
<header><div><a class="brand" href="/">effect-oauth · web app example</a>${
    options.signedIn
      ? `<form method="post" action="/logout"><button type="submit" id="sign-out" class="button secondary">Sign out</button></form>`
      : ""
  }</div></header>
<main>
${options.body}
</main>
${options.script === true ? `<script>${countdown}</script>` : ""}
</body>
</html>
`

/** An HTML response with the page headers. */
export const respond = (status: number, html: string): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(html, { status, contentType: "text/html; charset=utf-8", headers })

/** The sign-in link of the home page: `/login`, back to the dashboard after the sign-in. */
export const signInHref = "/login?returnTo=/dashboard"

/** The home page. */
export const home = (options: { readonly signedIn: boolean; readonly provider: string }): string =>
  layout({
    title: "Home",
    signedIn: options.signedIn,
    body: `<h1>Welcome</h1>
<section>
<p>This application signs you in with OAuth 2.0 (authorization code, PKCE S256) and then calls the Credal API
on your behalf. Its tokens refresh themselves: the dashboard shows when the access token expires and how
many times it was refreshed.</p>
<p class="muted">Authorization server: ${escapeHtml(options.provider)}</p>
<p>${
      options.signedIn
        ? `<a id="dashboard-link" class="button" href="/dashboard">Go to the dashboard</a>`
        : `<a id="sign-in" class="button" href="${signInHref}">Sign in with Credal</a>`
    }</p>
</section>`
  })

/** What the dashboard shows from the API. */
export interface ApiData {
  readonly user: string
  readonly clientId: string | undefined
  readonly message: string
  readonly jobId: string
  readonly status: string
  readonly response: string
  /** The answer to the same message through the Credal SDK (`copilots.sendMessage`). */
  readonly sdkResponse: string
}

/** What the dashboard shows about the tokens: instants and counts, never a token. */
export interface TokenView {
  /** Epoch milliseconds. */
  readonly expiresAt: number
  readonly issuedAt: number
  readonly refreshAt: number
  readonly now: number
  readonly refreshCount: number
  readonly lastRefreshAt: number | undefined
  readonly refreshable: boolean
  readonly scopes: ReadonlyArray<string>
}

/** Who signed in, from the validated ID Token, when the provider is an OpenID provider. */
export interface IdentityView {
  readonly subject: string
  readonly issuer: string
  readonly name: string | undefined
  readonly email: string | undefined
}

const identitySection = (identity: IdentityView): string =>
  `<section id="identity">
<h2>Signed in (OpenID Connect)</h2>
<dl>
<dt>Subject</dt><dd id="identity-sub"><code>${escapeHtml(identity.subject)}</code></dd>
${identity.name === undefined ? "" : `<dt>Name</dt><dd id="identity-name">${escapeHtml(identity.name)}</dd>`}
${identity.email === undefined ? "" : `<dt>Email</dt><dd id="identity-email">${escapeHtml(identity.email)}</dd>`}
<dt>Issuer</dt><dd id="identity-iss">${escapeHtml(identity.issuer)}</dd>
</dl>
<p class="muted">From the ID Token, validated at sign-in (signature, issuer, audience, expiry, nonce).</p>
</section>`

const iso = (millis: number) => new Date(millis).toISOString()

/** The dashboard: the API's answers, or why they are missing, and the token indicator. */
export const dashboard = (options: {
  readonly api: { readonly _tag: "Data"; readonly data: ApiData } | { readonly _tag: "Failed"; readonly reason: string }
  readonly tokens: TokenView
  readonly identity?: Option.Option<IdentityView> | undefined
}): string => {
  const { api, tokens } = options
  const identity = options.identity !== undefined && Option.isSome(options.identity)
    ? identitySection(options.identity.value)
    : ""
  const apiSection = api._tag === "Data"
    ? `<section id="api-data">
<h2>From the Credal API</h2>
<dl>
<dt>Signed in as</dt><dd id="whoami-user">${escapeHtml(api.data.user)}</dd>
${api.data.clientId === undefined ? "" : `<dt>Client</dt><dd id="whoami-client">${escapeHtml(api.data.clientId)}</dd>`}
<dt>Message sent</dt><dd>${escapeHtml(api.data.message)}</dd>
<dt>Job</dt><dd id="job-id"><code>${escapeHtml(api.data.jobId)}</code> (${escapeHtml(api.data.status)})</dd>
<dt>Agent response</dt><dd id="agent-response">${escapeHtml(api.data.response)}</dd>
<dt>Through the Credal SDK</dt><dd id="sdk-response">${escapeHtml(api.data.sdkResponse)}</dd>
</dl>
<p class="muted">GET /whoami, then POST /agents/sendMessage and GET /agents/fetchAgentResponse with the job id; and the
same message through <code>@credal/sdk</code> (<code>copilots.sendMessage</code>).</p>
</section>`
    : `<section id="api-error">
<h2 class="error">The API could not be reached</h2>
<p>${escapeHtml(api.reason)}</p>
<p><a class="button secondary" href="/dashboard">Try again</a></p>
</section>`
  const secondsLeft = Math.max(0, Math.round((tokens.expiresAt - tokens.now) / 1000))
  return layout({
    title: "Dashboard",
    signedIn: true,
    script: true,
    body: `<h1>Dashboard</h1>
${identity}
${apiSection}
<section id="token-status">
<h2>Access token</h2>
<dl>
<dt>Expires at</dt><dd id="expires-at" data-epoch-ms="${tokens.expiresAt}">${iso(tokens.expiresAt)}</dd>
<dt>Seconds left</dt><dd><span id="seconds-left" data-expires-at="${tokens.expiresAt}" data-refresh-at="${tokens.refreshAt}">${secondsLeft}</span> s</dd>
<dt>Refresh due at</dt><dd id="refresh-at">${iso(tokens.refreshAt)}</dd>
<dt>Issued at</dt><dd id="issued-at">${iso(tokens.issuedAt)}</dd>
<dt>Refreshes seen</dt><dd id="refresh-count">${tokens.refreshCount}</dd>
<dt>Last refresh</dt><dd id="last-refresh">${
      tokens.lastRefreshAt === undefined ? "none yet" : iso(tokens.lastRefreshAt)
    }</dd>
<dt>Refresh token</dt><dd id="refreshable">${tokens.refreshable ? "held (rotated on every refresh)" : "none"}</dd>
<dt>Scopes</dt><dd id="scopes">${
      tokens.scopes.length === 0 ? "none" : tokens.scopes.map((scope) => `<code>${escapeHtml(scope)}</code>`).join(" ")
    }</dd>
</dl>
<p id="expiry-hint" class="muted">Reload the page to call the API again.</p>
<p><a id="reload" class="button secondary" href="/dashboard">Reload</a></p>
<p class="muted">The tokens themselves never leave the server; this page shows only their times.</p>
</section>`
  })
}

/** A failure page in the application's layout (the sign-in routes' failures use it too). */
export const failure = (options: {
  readonly title: string
  readonly message: string
  readonly tag: string
  readonly signedIn: boolean
}): string =>
  layout({
    title: options.title,
    signedIn: options.signedIn,
    body: `<section id="failure">
<h1>${escapeHtml(options.title)}</h1>
<p id="failure-message">${escapeHtml(options.message)}</p>
<p><a id="try-again" class="button" href="${signInHref}">Sign in again</a> <a class="button secondary" href="/">Home</a></p>
<p class="muted">Error: <code id="failure-tag">${escapeHtml(options.tag)}</code></p>
</section>`
  })
