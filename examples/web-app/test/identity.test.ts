import { TokenSet } from "@effect-oauth/core"
import * as DateTime from "effect/DateTime"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { assert, describe, it } from "vitest"
import * as WebApp from "../src/app.js"
import * as Identity from "../src/identity.js"
import * as Pages from "../src/pages.js"

const tokensWith = (claims: Record<string, unknown> | undefined) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make("at"),
    tokenType: "Bearer",
    refreshToken: Option.none(),
    expiresAt: DateTime.unsafeMake(3_600_000),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(0),
    scopes: ["openid"],
    idToken: claims === undefined
      ? Option.none()
      : Option.some(Redacted.make(`e30.${Encoding.encodeBase64Url(JSON.stringify(claims))}.sig`))
  })

const tokenView: Pages.TokenView = {
  expiresAt: 3_600_000,
  issuedAt: 0,
  refreshAt: 3_540_000,
  now: 0,
  refreshCount: 0,
  lastRefreshAt: undefined,
  refreshable: false,
  scopes: ["openid"]
}

describe("the web app's identity display", () => {
  it("the dashboard shows who signed in from the ID Token, escaped, when the provider is OpenID", () => {
    const identity = Identity.identityOf(tokensWith({
      iss: "https://op.example.test",
      sub: "ann<script>",
      aud: "app",
      exp: 3600,
      iat: 0,
      name: "Ann",
      email: "ann@example.test"
    }))
    assert.deepStrictEqual(Option.getOrUndefined(identity), {
      subject: "ann<script>",
      issuer: "https://op.example.test",
      name: "Ann",
      email: "ann@example.test"
    })
    const page = Pages.dashboard({ api: { _tag: "Failed", reason: "offline" }, tokens: tokenView, identity })
    assert.include(page, "id=\"identity-sub\"")
    assert.include(page, "ann&#60;script&#62;")
    assert.notInclude(page, "ann<script>")
    assert.include(page, "ann@example.test")
  })

  it("without an ID Token there is no identity section", () => {
    const identity = Identity.identityOf(tokensWith(undefined))
    assert.isTrue(Option.isNone(identity))
    const page = Pages.dashboard({ api: { _tag: "Failed", reason: "offline" }, tokens: tokenView, identity })
    assert.notInclude(page, "id=\"identity\"")
  })

  it("with the mock as an OpenID provider, a sign-in shows the validated identity on the dashboard", async () => {
    const app = await WebApp.start({ port: 0, provider: { _tag: "Mock", openid: true, defaultUser: "grace" } })
    try {
      const jar = new Map<string, string>()
      const send = async (url: string, init: { readonly method?: string; readonly body?: URLSearchParams } = {}) => {
        const response = await fetch(url, {
          method: init.method ?? "GET",
          redirect: "manual",
          headers: {
            cookie: Array.from(jar, ([name, value]) => `${name}=${value}`).join("; "),
            ...(init.body === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
          },
          ...(init.body === undefined ? {} : { body: init.body })
        })
        for (const cookie of response.headers.getSetCookie()) {
          const [pair = ""] = cookie.split(";")
          const at = pair.indexOf("=")
          jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim())
        }
        return response
      }
      const login = await send(`${app.url}${Pages.signInHref}`)
      const authorization = new URL(login.headers.get("location") ?? "")
      assert.isNotNull(authorization.searchParams.get("nonce"), "openid is requested with a nonce")
      const consent = await send(`${authorization.origin}${authorization.pathname}${authorization.search}`, {
        method: "POST",
        body: new URLSearchParams({ consent_decision: "approve", consent_user: "grace" })
      })
      const callback = await send(consent.headers.get("location") ?? "")
      assert.strictEqual(callback.status, 302)
      const dashboard = await send(`${app.url}/dashboard`)
      const page = await dashboard.text()
      assert.strictEqual(dashboard.status, 200)
      assert.include(page, "<dd id=\"identity-sub\"><code>grace</code></dd>")
      assert.include(page, "grace@example.test")
      assert.include(page, "id=\"whoami-user\">grace<")
    } finally {
      await app.close()
    }
  })
})
