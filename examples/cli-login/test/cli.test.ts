/**
 * The built CLI example as a child process (`node examples/cli-login/dist/main.js --auto`): the embedded
 * mock on 127.0.0.1, a loopback listener, the consent form answered over HTTP. Needs `tsc -b` first.
 */
import * as Schema from "effect/Schema"
import { spawn } from "node:child_process"
import * as Fs from "node:fs/promises"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, assert, beforeAll, describe, it } from "vitest"

const repositoryRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..")
const main = Path.join(repositoryRoot, "examples", "cli-login", "dist", "main.js")

interface Outcome {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/** Runs the CLI with `args` and extra variables (no `OAUTH_*` from this process), killed after 30 s. */
const runCli = (args: ReadonlyArray<string>, env: Readonly<Record<string, string>>) =>
  new Promise<Outcome>((resolve, reject) => {
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("OAUTH_")))
    const child = spawn(process.execPath, [main, ...args], {
      cwd: repositoryRoot,
      env: { ...inherited, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => stdout += chunk)
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => stderr += chunk)
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** The token file's record for a key, decoded only as far as the two tokens. */
const TokenFile = Schema.parseJson(Schema.Struct({
  records: Schema.Record({ key: Schema.String, value: Schema.Struct({ record: Schema.String }) })
}))
const StoredTokens = Schema.parseJson(Schema.Struct({ accessToken: Schema.String, refreshToken: Schema.String }))

let directory = ""

beforeAll(async () => {
  await Fs.access(main).catch(() => {
    throw new Error(`${main} is missing: build the examples first with \`pnpm exec tsc -b\``)
  })
  directory = await Fs.mkdtemp(Path.join(Os.tmpdir(), "cli-login-test-"))
})

afterAll(async () => {
  if (directory !== "") await Fs.rm(directory, { recursive: true, force: true })
})

describe("cli-login example", () => {
  it("--auto signs in, keeps the tokens in a 0600 file and prints whoami but never a token (S26, S29)", async () => {
    const tokenFile = Path.join(directory, "nested", "tokens.json")
    const outcome = await runCli(["--auto"], { TOKEN_FILE: tokenFile, MOCK_USER: "katherine.johnson" })
    assert.strictEqual(outcome.code, 0, `exit code ${outcome.code}; stderr:\n${outcome.stderr}`)
    assert.match(
      outcome.stdout,
      /Open this URL in a browser to sign in:\n\n {2}http:\/\/127\.0\.0\.1:\d+\/api\/oauth\/authorize\?/
    )
    assert.match(outcome.stdout, /redirect_uri=http%3A%2F%2F127\.0\.0\.1%3A\d+%2Fcallback/)
    assert.match(outcome.stdout, /^whoami: \{"user":"katherine\.johnson","clientId":"effect-oauth-cli-login"\}$/m)

    const stat = await Fs.stat(tokenFile)
    assert.isTrue(stat.isFile())
    assert.strictEqual(stat.mode & 0o777, 0o600)
    const file = Schema.decodeUnknownSync(TokenFile)(await Fs.readFile(tokenFile, "utf8"))
    assert.deepStrictEqual(Object.keys(file.records), ["cli"])
    const record = file.records["cli"]
    assert.isDefined(record)
    const tokens = Schema.decodeUnknownSync(StoredTokens)(record.record)
    for (const token of [tokens.accessToken, tokens.refreshToken]) {
      assert.notInclude(outcome.stdout, token)
      assert.notInclude(outcome.stderr, token)
    }
  }, 40_000)

  it("refuses --auto with a real provider configured, before any network call", async () => {
    const outcome = await runCli(["--auto"], {
      TOKEN_FILE: Path.join(directory, "unused.json"),
      OAUTH_CLIENT_ID: "someone",
      OAUTH_CLIENT_SECRET: "something"
    })
    assert.strictEqual(outcome.code, 1)
    assert.include(outcome.stderr, "--auto approves on the embedded mock only")
    const created = await Fs.access(Path.join(directory, "unused.json")).then(() => true, () => false)
    assert.isFalse(created, "the token file was created")
  }, 40_000)
})
