/**
 * The README cannot drift: every ```ts block is written to its own module and type-checked, strictly
 * and with NodeNext resolution, against the built packages (their `dist` through the workspace links,
 * as an application would import them); the install line names the versions this workspace uses.
 */
import * as MockCredal from "@effect-oauth/example-mock-credal/MockCredal"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import { it as effectIt } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const exampleRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const repositoryRoot = Path.resolve(exampleRoot, "..", "..")
const readme = Fs.readFileSync(Path.join(repositoryRoot, "README.md"), "utf8")

/** The ```ts blocks of the README, in order. */
const snippets = Array.from(readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm), (match) => match[1] ?? "")

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022", "DOM", "DOM.Iterable"],
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    skipLibCheck: true,
    noEmit: true
  },
  include: ["*.ts"]
}

const installedVersion = (name: string): string => {
  const manifest: unknown = JSON.parse(
    Fs.readFileSync(Path.join(exampleRoot, "node_modules", ...name.split("/"), "package.json"), "utf8")
  )
  assert.isTrue(typeof manifest === "object" && manifest !== null && "version" in manifest)
  return typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : ""
}

describe("README", () => {
  it("every ts block is a complete program that type-checks strictly (NodeNext) against the built packages", () => {
    assert.isAtLeast(snippets.length, 8)
    const directory = Path.join(exampleRoot, "build", "readme")
    Fs.rmSync(directory, { recursive: true, force: true })
    Fs.mkdirSync(directory, { recursive: true })
    Fs.writeFileSync(Path.join(directory, "package.json"), JSON.stringify({ type: "module", private: true }))
    Fs.writeFileSync(Path.join(directory, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
    snippets.forEach((snippet, index) => {
      assert.match(snippet, /^import /m, `snippet ${index + 1} has its imports`)
      Fs.writeFileSync(Path.join(directory, `snippet-${String(index + 1).padStart(2, "0")}.ts`), snippet)
    })
    const tsc = Path.join(repositoryRoot, "node_modules", "typescript", "bin", "tsc")
    const result = ChildProcess.spawnSync(process.execPath, [tsc, "-p", Path.join(directory, "tsconfig.json")], {
      encoding: "utf8",
      timeout: 240_000
    })
    assert.strictEqual(result.stdout + result.stderr, "", "the README's snippets have type errors")
    assert.strictEqual(result.status, 0)
  }, 300_000)

  it("the install line is one copyable command with the exact peer versions of this workspace (Effect 3)", () => {
    const lines = readme.split("\n").filter((line) => line.startsWith("npm install @effect-oauth/core"))
    assert.strictEqual(lines.length, 1)
    const line = lines[0] ?? ""
    for (
      const name of [
        "effect",
        "@effect/platform",
        "@effect/platform-node",
        "@effect/cluster",
        "@effect/rpc",
        "@effect/sql"
      ]
    ) {
      assert.include(line.split(" "), `${name}@${installedVersion(name)}`, name)
    }
    assert.match(installedVersion("effect"), /^3\./)
    assert.include(readme, "serves the **Effect 3 line**")
    assert.include(readme, "not Effect 4")
  })

  effectIt.scopedLive(
    "the Quick start program signs in against the mock Credal and calls whoami for the signed-in user",
    () =>
      Effect.gen(function*() {
        const quickStart = snippets[0] ?? ""
        assert.include(quickStart, "NodeSignIn.layerConfig")
        const directory = Path.join(exampleRoot, "build", "readme-run")
        Fs.rmSync(directory, { recursive: true, force: true })
        Fs.mkdirSync(directory, { recursive: true })
        Fs.writeFileSync(Path.join(directory, "package.json"), JSON.stringify({ type: "module", private: true }))
        Fs.writeFileSync(Path.join(directory, "quickstart.ts"), quickStart)

        const port = yield* freePort
        const appUrl = `http://127.0.0.1:${port}`
        const client: FakeAuthorizationServer.Client = {
          clientId: "quick-start",
          clientSecret: Crypto.randomBytes(24).toString("base64url"),
          redirectUris: [`${appUrl}/callback`],
          authMethods: ["client_secret_post"]
        }
        const mock = yield* Layer.build(MockCredal.layer({ server: { clients: [client] } }))
        const server = Context.get(mock, FakeAuthorizationServer.FakeAuthorizationServer)
        const urls = server.endpoints
        const env = {
          ...process.env,
          PORT: String(port),
          OAUTH_PROVIDER: "credal",
          OAUTH_CLIENT_ID: client.clientId,
          OAUTH_CLIENT_SECRET: client.clientSecret,
          OAUTH_REDIRECT_URI: `${appUrl}/callback`,
          OAUTH_AUTHORIZATION_URL: urls.authorization,
          OAUTH_TOKEN_URL: urls.token,
          OAUTH_COOKIE_KEYS: `k1:${Encoding.encodeBase64(Crypto.randomBytes(32))}`,
          CREDAL_API_BASE_URL: urls.apiBase
        }
        const tsx = Path.join(repositoryRoot, "node_modules", ".bin", "tsx")
        const output: Array<string> = []
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            const child = ChildProcess.spawn(tsx, ["quickstart.ts"], { cwd: directory, env, stdio: "pipe" })
            child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()))
            child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()))
            return child
          }),
          (child) => Effect.sync(() => child.kill("SIGTERM"))
        )
        // Up to 60 s for tsx to compile and the server to listen.
        const home = yield* get(appUrl + "/").pipe(
          Effect.retry(Schedule.spaced("250 millis").pipe(Schedule.intersect(Schedule.recurs(240))))
        )
        assert.strictEqual(home.status, 200, output.join(""))

        const login = yield* get(`${appUrl}/login?returnTo=/me`)
        assert.strictEqual(login.status, 302)
        const callbackUrl = yield* server.approve(login.headers.get("location") ?? "", { user: "ada" })
        const callback = yield* get(callbackUrl.href, cookiesOf(login))
        assert.strictEqual(callback.status, 302, output.join(""))
        assert.strictEqual(callback.headers.get("location"), "/me")
        const me = yield* get(`${appUrl}/me`, cookiesOf(callback))
        assert.strictEqual(me.status, 200, output.join(""))
        const body: unknown = yield* Effect.promise(() => me.json())
        assert.deepInclude(body, { whoami: { user: "ada", clientId: "quick-start" } })
      }),
    120_000
  )
})

/** A port that was free a moment ago. */
const freePort = Effect.async<number>((resume) => {
  const listener = Http.createServer()
  listener.listen(0, "127.0.0.1", () => {
    const { port } = listener.address() as AddressInfo
    listener.close(() => resume(Effect.succeed(port)))
  })
})

const get = (url: string, cookie?: string) =>
  Effect.tryPromise(() =>
    fetch(url, {
      redirect: "manual",
      headers: { accept: "application/json", ...(cookie === undefined ? {} : { cookie }) }
    })
  )

/** The `name=value` pairs a response sets, for the next request's Cookie header. */
const cookiesOf = (response: Response): string =>
  response.headers.getSetCookie().map((header) => header.split(";")[0] ?? "").filter((pair) => !pair.endsWith("="))
    .join("; ")
