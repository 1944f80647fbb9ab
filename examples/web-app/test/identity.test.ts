import { TokenSet } from "@effect-oauth/core"
import * as DateTime from "effect/DateTime"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { assert, describe, it } from "vitest"
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
})
