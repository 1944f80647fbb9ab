/**
 * The web app example end to end in Debian's Chromium: real sockets on 127.0.0.1, the embedded mock
 * Credal with 4-second access tokens, the consent page clicked like a person would. Screenshots go to
 * `artifacts/screenshots/` at the repository root.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { type BrowserContext, chromium, type Page } from "playwright-core"
import { afterAll, assert, beforeAll, describe, it } from "vitest"
import * as WebApp from "../src/app.js"

const repositoryRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const screenshots = Path.join(repositoryRoot, "artifacts", "screenshots")
const chromiumPath = "/usr/bin/chromium"
const user = "grace.hopper"

const accessTokenLifetimeMs = 4_000

let app: WebApp.Started | undefined
let context: BrowserContext | undefined
let directory = ""

const running = (): WebApp.Started => {
  assert.isDefined(app, "the app did not start")
  return app
}

const fake = () => {
  const mock = running().mock
  assert.isDefined(mock, "the app runs without its mock")
  return mock.server
}

const counters = () => Effect.runPromise(fake().counters)

/** Every token the mock has issued: none may appear in a page. */
const issuedTokens = async () => {
  const grants = await Effect.runPromise(fake().grants)
  return grants.flatMap((grant) => [...grant.accessTokens, ...grant.refreshTokens])
}

const assertNoTokenIn = async (page: Page) => {
  const html = await page.content()
  const tokens = await issuedTokens()
  assert.isAbove(tokens.length, 0)
  for (const token of tokens) assert.notInclude(html, token, "a token appears in the page")
}

const screenshot = (page: Page, state: string) =>
  page.screenshot({ path: Path.join(screenshots, `${state}.png`), fullPage: true })

const browserContext = (): BrowserContext => {
  assert.isDefined(context, "the browser did not start")
  return context
}

const signedInPage = async (): Promise<Page> => {
  const pages = browserContext().pages()
  const page = pages[0]
  assert.isDefined(page, "no page is open")
  return page
}

/** The keys of the token file (`NodeTokenStore`'s document), never its tokens. */
const decodeTokenFile = Schema.decodeUnknownSync(
  Schema.parseJson(Schema.Struct({ records: Schema.Record({ key: Schema.String, value: Schema.Unknown }) }))
)

const text = async (page: Page, selector: string) => (await page.locator(selector).textContent()) ?? ""

beforeAll(async () => {
  await Fs.access(chromiumPath).catch(() => {
    throw new Error(`${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium)`)
  })
  directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "web-app-e2e-"))
  await Fs.mkdir(screenshots, { recursive: true })
  app = await WebApp.start({
    port: 0,
    tokenFile: Path.join(directory, "tokens.json"),
    provider: { _tag: "Mock", accessTokenLifetime: accessTokenLifetimeMs, refreshWindow: "1 second" }
  })
  // A fresh profile: Playwright takes the user data directory as a parameter, not as a flag.
  context = await chromium.launchPersistentContext(Path.join(directory, "chromium-profile"), {
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync"
    ]
  })
  context.setDefaultTimeout(15_000)
}, 60_000)

afterAll(async () => {
  await context?.close()
  await app?.close()
  if (directory !== "") await Fs.rm(directory, { recursive: true, force: true })
}, 30_000)

describe("web app in Chromium", () => {
  it("signs in through the mock's consent page and shows the API's data, with PKCE S256 (S3)", async () => {
    const page = browserContext().pages()[0] ?? await browserContext().newPage()
    const mock = fake().endpoints
    await page.goto(running().url)
    await screenshot(page, "home")
    await page.getByRole("link", { name: "Sign in with Credal" }).click()
    await page.waitForURL((url) => url.href.startsWith(mock.authorization))
    const authorization = new URL(page.url())
    assert.strictEqual(authorization.searchParams.get("code_challenge_method"), "S256")
    assert.strictEqual(authorization.searchParams.get("redirect_uri"), `${running().url}/callback`)
    await screenshot(page, "consent")

    await page.fill("#username", user)
    await page.click("#approve")
    await page.waitForURL(`${running().url}/dashboard`)
    assert.include(await text(page, "#api-data"), user)
    assert.strictEqual(await text(page, "#whoami-user"), user)
    assert.strictEqual(await text(page, "#agent-response"), "echo: Hello from the effect-oauth web app example")
    assert.strictEqual(await text(page, "#sdk-response"), "echo: Hello from the effect-oauth web app example")
    assert.strictEqual(await text(page, "#refresh-count"), "0")
    const expiresAt = Date.parse(await text(page, "#expires-at"))
    const secondsLeft = Number(await text(page, "#seconds-left"))
    assert.isAtLeast(secondsLeft, 0)
    assert.isAtMost(secondsLeft, accessTokenLifetimeMs / 1000)
    assert.isAbove(expiresAt, Date.now() - 1_000)
    await assertNoTokenIn(page)

    const count = await counters()
    assert.strictEqual(count.authorizationCode, 1)
    assert.strictEqual(count.refreshToken, 0)
    // whoami at sign-in (the session key is the user), then whoami, sendMessage, fetchAgentResponse and the SDK's sendMessage.
    assert.strictEqual(count.api, 5)
    const stat = await Fs.stat(Path.join(directory, "tokens.json"))
    assert.strictEqual(stat.mode & 0o777, 0o600)
    await screenshot(page, "signed-in")
  }, 30_000)

  it(
    "after the access token expires a reload refreshes it exactly once and the data still loads (S19, S24)",
    async () => {
      const page = await signedInPage()
      const expiresAt = Number(await page.locator("#expires-at").getAttribute("data-epoch-ms"))
      assert.isFalse(Number.isNaN(expiresAt))
      const before = await counters()
      // Real time: the mock's tokens live 4 seconds; wait until this one is past its expiry.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 300))
      await page.reload()

      assert.include(await text(page, "#api-data"), user)
      assert.strictEqual(await text(page, "#refresh-count"), "1")
      assert.notStrictEqual(await text(page, "#last-refresh"), "none yet")
      const renewed = Number(await page.locator("#expires-at").getAttribute("data-epoch-ms"))
      assert.isAbove(renewed, expiresAt)
      const after = await counters()
      assert.strictEqual(after.refreshToken - before.refreshToken, 1)
      assert.strictEqual(after.refreshToken, 1)
      assert.strictEqual(after.reusedRefreshTokens, 0)
      assert.strictEqual(after.api - before.api, 4)
      await assertNoTokenIn(page)
      await screenshot(page, "refreshed")
    },
    30_000
  )

  it("a denied consent shows the friendly declined page and makes no token request (S7)", async () => {
    const browser = browserContext().browser()
    assert.isNotNull(browser)
    const other = await browser.newContext()
    const before = await counters()
    const page = await other.newPage()
    await page.goto(running().url)
    await page.getByRole("link", { name: "Sign in with Credal" }).click()
    await page.waitForURL((url) => url.href.startsWith(fake().endpoints.authorization))
    const callback = page.waitForResponse((response) => response.url().startsWith(`${running().url}/callback`))
    await page.click("#deny")
    const response = await callback
    assert.strictEqual(response.status(), 400)
    assert.strictEqual(await text(page, "h1"), "You declined access")
    assert.strictEqual(await text(page, "#failure-tag"), "AuthorizationDenied")
    const after = await counters()
    assert.strictEqual(after.token, before.token)
    await screenshot(page, "declined")
    await other.close()
  }, 30_000)

  it("sign-out revokes the refresh token, and the dashboard then sends the browser to sign in (S30)", async () => {
    const page = await signedInPage()
    await page.goto(`${running().url}/dashboard`)
    const before = await counters()
    await page.click("#sign-out")
    await page.waitForURL(`${running().url}/`)
    assert.strictEqual(await page.getByRole("link", { name: "Sign in with Credal" }).count(), 1)
    const after = await counters()
    assert.strictEqual(after.revoke - before.revoke, 1)
    const file = decodeTokenFile(await Fs.readFile(Path.join(directory, "tokens.json"), "utf8"))
    assert.deepStrictEqual(Object.keys(file.records), [])

    await page.goto(`${running().url}/dashboard`)
    await page.waitForURL((url) => url.href.startsWith(fake().endpoints.authorization))
    assert.isTrue(await page.locator("#approve").isVisible())
    await screenshot(page, "signed-out")
  }, 30_000)
})
