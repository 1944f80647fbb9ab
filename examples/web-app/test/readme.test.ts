/**
 * The README cannot drift (issue 12: a fresh directory following only the README reaches a signed-in
 * page and a Credal SDK call). Every ```ts block is written to its own module and type-checked against
 * the built packages (their `dist` through the workspace links, as an application would import them)
 * with the README's own `tsconfig.json`, in a directory whose `package.json` is what `npm init -y`
 * writes changed by the README's `npm pkg set` lines. The install line names every package the first
 * app imports and every peer those need, each at the version this workspace uses; every other package
 * a snippet imports is named in the Install section. The first app is run with the README's own
 * commands and variables against the mock Credal: it signs in, calls whoami and sends a message
 * through the real `@credal/sdk`; the Credal SDK section's program, imported as written, acts for a
 * signed-in user through its one runtime.
 */
import { AccessTokens, OAuthClient } from "@effect-oauth/core"
import * as MockCredal from "@effect-oauth/example-mock-credal/MockCredal"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import { it as effectIt } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import type * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schedule from "effect/Schedule"
import * as ChildProcess from "node:child_process"
import * as Crypto from "node:crypto"
import * as Fs from "node:fs"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import { assert, describe, it } from "vitest"

const exampleRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const repositoryRoot = Path.resolve(exampleRoot, "..", "..")
const readme = Fs.readFileSync(Path.join(repositoryRoot, "README.md"), "utf8")

/** The fenced blocks of one language in `text`, in order. */
const fenced = (text: string, language: string): Array<string> =>
  Array.from(text.matchAll(new RegExp(`^\`\`\`${language}\\n([\\s\\S]*?)^\`\`\`$`, "gm")), (match) => match[1] ?? "")

/** A section of the README: from its heading to the next heading of the same or a higher level (not in a fence). */
const section = (heading: string): string => {
  const lines = readme.split("\n")
  const start = lines.indexOf(heading)
  assert.isAtLeast(start, 0, `the README has a section "${heading}"`)
  const level = heading.indexOf(" ")
  let fence = false
  const end = lines.findIndex((line, index) => {
    if (line.startsWith("```")) fence = !fence
    return index > start && !fence && new RegExp(`^#{1,${level}} `).test(line)
  })
  return lines.slice(start + 1, end === -1 ? undefined : end).join("\n")
}

/** The ```ts blocks of the README, in order. */
const snippets = fenced(readme, "ts")
const install = section("## Install")
const firstApp = section("### A first app")
const firstAppProgram = fenced(firstApp, "ts")[0] ?? ""

/** The npm packages a program imports (not `node:` built-ins). */
const importedPackages = (program: string): Array<string> =>
  Array.from(
    new Set(
      Array.from(program.matchAll(/\bfrom\s+"([^"]+)"|^import\s+"([^"]+)"/gm), (match) => match[1] ?? match[2] ?? "")
        .filter((specifier) => !specifier.startsWith("node:") && !specifier.startsWith("."))
        .map((specifier) => specifier.split("/").slice(0, specifier.startsWith("@") ? 2 : 1).join("/"))
    )
  )

/** A package's name and version in `name@version` (the `@` of a scope is not a separator). */
const nameAndVersion = (argument: string): { readonly name: string; readonly version: string | undefined } => {
  const at = argument.indexOf("@", 1)
  return at === -1
    ? { name: argument, version: undefined }
    : { name: argument.slice(0, at), version: argument.slice(at + 1) }
}

interface Manifest {
  readonly name: string
  readonly version: string
  readonly peerDependencies?: Readonly<Record<string, string>>
  readonly peerDependenciesMeta?: Readonly<Record<string, { readonly optional?: boolean }>>
  readonly directory: string
}

/** The manifest of `name` as Node.js would find it from `from` (through pnpm's links). */
const manifestOf = (name: string, from: string = exampleRoot): Manifest => {
  for (let directory = from;; directory = Path.dirname(directory)) {
    const file = Path.join(directory, "node_modules", ...name.split("/"), "package.json")
    if (Fs.existsSync(file)) {
      const real = Fs.realpathSync(file)
      const manifest = JSON.parse(Fs.readFileSync(real, "utf8")) as Omit<Manifest, "directory">
      return { ...manifest, directory: Path.dirname(real) }
    }
    assert.notStrictEqual(Path.dirname(directory), directory, `${name} is installed in this workspace`)
  }
}

/**
 * The versions of `roots` and of every peer they require, found as Node.js finds them: each peer from
 * the package that requires it (through pnpm's links). `npm install` must be given them all, or npm
 * picks their versions itself.
 */
const withRequiredPeers = (roots: ReadonlyArray<string>): Map<string, string> => {
  const found = new Map<string, string>()
  const queue: Array<readonly [string, string]> = roots.map((name) => [name, exampleRoot])
  for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
    const [name, from] = next
    if (found.has(name)) continue
    const manifest = manifestOf(name, from)
    found.set(name, manifest.version)
    for (const peer of Object.keys(manifest.peerDependencies ?? {})) {
      if (manifest.peerDependenciesMeta?.[peer]?.optional !== true) queue.push([peer, manifest.directory])
    }
  }
  return found
}

/** The first app's packages and their required peers, with the versions in use. */
const firstAppPackages = withRequiredPeers(importedPackages(firstAppProgram))

/** The version in use of a package the README names. */
const versionInUse = (name: string): string => firstAppPackages.get(name) ?? manifestOf(name).version

/** `npm pkg set key=value` lines applied to what `npm init -y` writes (npm 11: `"type": "commonjs"`). */
const packageJson = (): Record<string, string> => {
  const manifest: Record<string, string> = { name: "my-app", version: "1.0.0", type: "commonjs" }
  for (const match of install.matchAll(/^npm pkg set (\S+)=(\S+)$/gm)) manifest[match[1] ?? ""] = match[2] ?? ""
  return manifest
}

/** A new directory under `build/` holding the README's `package.json`, as the reader's app directory. */
const appDirectory = (name: string): string => {
  const directory = Path.join(exampleRoot, "build", name)
  Fs.rmSync(directory, { recursive: true, force: true })
  Fs.mkdirSync(directory, { recursive: true })
  Fs.writeFileSync(Path.join(directory, "package.json"), JSON.stringify(packageJson()))
  return directory
}

/** The variables `export`ed in a shell block (`NAME=value` or `NAME="value"`). */
const exportedVariables = (block: string): Record<string, string> => {
  const variables: Record<string, string> = {}
  for (const line of block.split("\n").filter((line) => line.startsWith("export "))) {
    for (const match of line.matchAll(/([A-Z][A-Z0-9_]*)=(?:"([^"]*)"|(\S+))/g)) {
      variables[match[1] ?? ""] = match[2] ?? match[3] ?? ""
    }
  }
  return variables
}

/** How the first app says to run it: the shell block with `npx tsx`, its file and its variables. */
const firstAppRun = (() => {
  const shell = fenced(firstApp, "sh").find((block) => block.includes("npx tsx ")) ?? ""
  const variables = exportedVariables(shell)
  return { command: /^npx tsx (\S+\.ts)$/m.exec(shell), variables }
})()

/**
 * The mock's origin in the first app's variables. Every Credal URL must point at it (on loopback): one
 * left out would send the program to Credal's real servers.
 */
const mockOriginOf = (variables: Record<string, string>): string => {
  const origin = new URL(variables.OAUTH_AUTHORIZATION_URL ?? "").origin
  assert.strictEqual(new URL(origin).hostname, "127.0.0.1")
  for (
    const name of [
      "OAUTH_AUTHORIZATION_URL",
      "OAUTH_TOKEN_URL",
      "OAUTH_REVOCATION_URL",
      "CREDAL_API_BASE_URL",
      "CREDAL_SDK_ENVIRONMENT"
    ]
  ) {
    assert.isTrue(variables[name]?.startsWith(`${origin}/`), `${name} points at the mock Credal`)
  }
  return origin
}

describe("README (issue 12: a fresh directory following only the README signs in and calls the Credal SDK)", () => {
  it(
    "every ts block is a complete program that type-checks with the README's tsconfig.json as an ES module of the README's package.json",
    () => {
      assert.isAtLeast(snippets.length, 8)
      const tsconfigs = fenced(install, "json").filter((block) => block.includes("compilerOptions"))
      assert.strictEqual(tsconfigs.length, 1, "the Install section gives one tsconfig.json")
      const tsconfig = JSON.parse(tsconfigs[0] ?? "") as { compilerOptions: Record<string, unknown> }
      assert.strictEqual(tsconfig.compilerOptions.strict, true)
      assert.strictEqual(String(tsconfig.compilerOptions.module).toLowerCase(), "nodenext")
      const directory = appDirectory("readme")
      Fs.writeFileSync(Path.join(directory, "tsconfig.json"), tsconfigs[0] ?? "")
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
    },
    300_000
  )

  it("the install line is one copyable command: the first app's packages and all their required peers, at this workspace's versions (Effect 3)", () => {
    const lines = readme.split("\n").filter((line) => line.startsWith("npm install @effect-oauth/core"))
    assert.strictEqual(lines.length, 1)
    const line = lines[0] ?? ""
    assert.include(install, line, "the install line is in the Install section")
    const named = new Map(
      line.split(" ").slice(2).map((argument) => {
        const { name, version } = nameAndVersion(argument)
        return [name, version] as const
      })
    )
    for (const [name, version] of named) {
      if (name.startsWith("@effect-oauth/")) {
        assert.isUndefined(version, `${name} is one of this workspace's packages`)
        manifestOf(name)
      } else {
        assert.strictEqual(version, versionInUse(name), `${name} is pinned to the version in use`)
      }
    }
    assert.isAbove(firstAppPackages.size, 8)
    for (const name of firstAppPackages.keys()) {
      assert.isTrue(named.has(name), `${name}: the first app imports it, or it is a required peer of what it imports`)
    }
    assert.match(versionInUse("effect"), /^3\./)
    assert.include(readme, "serves the **Effect 3 line**")
    assert.include(readme, "not Effect 4")
  })

  it("every package a snippet imports is on the install line or named in the Install section, each pinned version the one in use", () => {
    const imported = new Set(snippets.flatMap(importedPackages))
    assert.isAbove(imported.size, 5)
    for (const name of imported) {
      assert.match(install, new RegExp(`[\`\\s]${name.replace(/[/.]/g, "\\$&")}(@[^\\s\`]+)?[\`\\s]`), name)
    }
    const pinned = Array.from(install.matchAll(/(?<=[`\s])((?:@[a-z0-9-]+\/)?[a-z0-9.-]+)@(\d+\.\d+\.\d+)(?=[`\s])/g))
    assert.isAbove(pinned.length, 10)
    for (const [, name, version] of pinned) {
      assert.strictEqual(version, versionInUse(name ?? ""), `${name} is pinned to the version in use`)
    }
    assert.match(install, /^npm install -D tsx@\S+ typescript@\S+ @types\/node@\S+$/m, "how to run and check .ts")
  })

  effectIt.scopedLive(
    "the first app, run with the README's commands and variables, signs in against the mock Credal, calls whoami and the Credal SDK",
    () =>
      Effect.gen(function*() {
        assert.include(firstAppProgram, "NodeSignIn.layerConfig")
        const { command, variables } = firstAppRun
        assert.isNotNull(command, "the first app says how to run it")
        const mockOrigin = mockOriginOf(variables)
        const readmeAppOrigin = new URL(variables.OAUTH_REDIRECT_URI ?? "").origin
        assert.strictEqual(
          variables.OAUTH_REDIRECT_URI,
          FakeAuthorizationServer.defaultClient.redirectUris[0],
          "the mock knows the README's redirect URI"
        )

        const directory = appDirectory("readme-run")
        Fs.writeFileSync(Path.join(directory, command?.[1] ?? "main.ts"), firstAppProgram)

        const port = yield* freePort
        const appUrl = `http://127.0.0.1:${port}`
        const client: FakeAuthorizationServer.Client = {
          ...FakeAuthorizationServer.defaultClient,
          redirectUris: [`${appUrl}/callback`]
        }
        const mock = yield* Layer.build(MockCredal.layer({ server: { clients: [client] } }))
        const server = Context.get(mock, FakeAuthorizationServer.FakeAuthorizationServer)
        const env: Record<string, string | undefined> = { ...process.env, PORT: String(port) }
        for (const [name, value] of Object.entries(variables)) {
          const resolved = value
            .replace("$(openssl rand -base64 32)", Encoding.encodeBase64(Crypto.randomBytes(32)))
            .replaceAll(mockOrigin, server.endpoints.issuer)
            .replaceAll(readmeAppOrigin, appUrl)
          assert.notInclude(resolved, "$(", name)
          env[name] = resolved
        }
        const tsx = Path.join(repositoryRoot, "node_modules", ".bin", "tsx")
        const output: Array<string> = []
        yield* Effect.acquireRelease(
          Effect.sync(() => {
            const child = ChildProcess.spawn(tsx, [command?.[1] ?? ""], { cwd: directory, env, stdio: "pipe" })
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
        assert.deepInclude(body, { whoami: { user: "ada", clientId: client.clientId } })

        const ask = yield* get(`${appUrl}/ask`, cookiesOf(callback))
        assert.strictEqual(ask.status, 200, output.join(""))
        const answer: unknown = yield* Effect.promise(() => ask.json())
        // Only the mock's `/api/v0/copilots/sendMessage`, the SDK's route, answers this.
        assert.deepNestedInclude(answer, { type: "ai_response_result", "response.message": "echo: Hello" })

        // The home page's sign-out form, as a browser posts it: the refresh token is revoked at the mock.
        const homePage = yield* Effect.promise(() => home.text())
        assert.include(homePage, `<form method="post" action="/logout">`)
        const logout = yield* Effect.tryPromise(() =>
          fetch(`${appUrl}/logout`, {
            method: "POST",
            redirect: "manual",
            headers: { origin: appUrl, cookie: cookiesOf(callback) }
          })
        )
        assert.strictEqual(logout.status, 303, output.join(""))
        assert.strictEqual((yield* server.counters).revoke, 1)
        assert.strictEqual((yield* get(`${appUrl}/me`, cookiesOf(logout))).status, 401)
        // The session cookie from before, replayed: its tokens are gone, so both pages send to sign-in.
        for (const path of ["/me", "/ask"]) {
          const replayed = yield* get(appUrl + path, cookiesOf(callback))
          assert.strictEqual(replayed.status, 302, output.join(""))
          assert.strictEqual(replayed.headers.get("location"), `/login?returnTo=${path}`)
        }
      }),
    120_000
  )

  effectIt.scopedLive(
    "the Credal SDK section's program, imported as written, sends a signed-in user's message through one runtime and answers a user without tokens with its sign-in branch",
    () =>
      Effect.gen(function*() {
        const program = fenced(section("#### With the Credal SDK"), "ts")[0] ?? ""
        assert.include(program, "ManagedRuntime.make")
        const directory = appDirectory("readme-sdk")
        Fs.writeFileSync(Path.join(directory, "credal.ts"), program)

        // The first app's variables, pointed at this test's mock (the program reads them as it says).
        const { variables } = firstAppRun
        const mockOrigin = mockOriginOf(variables)
        const mock = yield* Layer.build(MockCredal.layer())
        const server = Context.get(mock, FakeAuthorizationServer.FakeAuthorizationServer)
        const saved = { ...process.env }
        yield* Effect.addFinalizer(() => Effect.sync(() => (process.env = saved)))
        for (const [name, value] of Object.entries(variables)) {
          process.env[name] = value.replaceAll(mockOrigin, server.endpoints.issuer)
        }

        const sdk = (yield* Effect.promise(() => import(pathToFileURL(Path.join(directory, "credal.ts")).href))) as {
          readonly runtime: ManagedRuntime.ManagedRuntime<AccessTokens.AccessTokens | OAuthClient.OAuthClient, unknown>
          readonly ask: (userId: string, message: string) => Promise<unknown>
        }
        yield* Effect.addFinalizer(() => Effect.promise(() => sdk.runtime.dispose()))
        const run = <A, E>(effect: Effect.Effect<A, E, AccessTokens.AccessTokens | OAuthClient.OAuthClient>) =>
          Effect.promise(() => sdk.runtime.runPromise(effect))
        const { pending, url } = yield* run(Effect.flatMap(OAuthClient.OAuthClient, (oauth) => oauth.authorize()))
        const callbackUrl = yield* server.approve(url.href, { user: "ada" })
        yield* run(Effect.gen(function*() {
          const oauth = yield* OAuthClient.OAuthClient
          const tokens = yield* oauth.complete(callbackUrl.href, pending)
          yield* Effect.flatMap(AccessTokens.AccessTokens, (store) => store.save("ada", tokens))
        }))

        const answer = yield* Effect.promise(() => sdk.ask("ada", "Hi"))
        // Only the mock's `/api/v0/copilots/sendMessage`, the SDK's route, answers this.
        assert.deepNestedInclude(answer, { "sendChatResult.response.message": "echo: Hi" })
        assert.strictEqual(yield* Effect.promise(() => sdk.ask("bob", "Hi")), "sign in again")
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
