/**
 * Worker processes (`fixtures/worker.mjs`) for the multi-process tests and the bench: spawning them,
 * reading their lines, starting them together and collecting their reports. No vitest here, so the
 * bench can use it too.
 */
import { AccessTokens, type TokenStore } from "@effect-oauth/core"
import * as NodeOAuth from "@effect-oauth/node/NodeOAuth"
import { OAuthTest } from "@effect-oauth/testing"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { type ChildProcess, spawn } from "node:child_process"
import { createHash } from "node:crypto"
import { existsSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

/** The sql package's directory, from the source (`test/`) or compiled (`build/test/`, which the bench imports). */
export const packageRoot = fileURLToPath(
  new URL(import.meta.url.includes("/build/test/") ? "../../" : "../", import.meta.url)
)

const workerScript = path.join(packageRoot, "test", "fixtures", "worker.mjs")

/** What the workers import, as built by `tsc -b`. */
const builtPackages = ["core", "node", "sql"].map((name) => path.join(packageRoot, "..", name, "dist", "index.js"))

/** Why workers cannot run, or `undefined`: they import the packages' built `dist/`. */
export const missingDist = (): string | undefined => {
  const missing = builtPackages.filter((file) => !existsSync(file))
  return missing.length === 0
    ? undefined
    : `The multi-process tests run workers that import the built packages, and these are missing: ${
      missing.join(", ")
    }. Run \`pnpm exec tsc -b\` first (the test command and CI do).`
}

/** The OAuth client of a worker, in plain JSON. */
export interface ClientConfig {
  readonly clientId: string
  readonly clientSecret: string
  readonly redirectUri: string
  readonly authorizationEndpoint: string
  readonly tokenEndpoint: string
  readonly revocationEndpoint: string | undefined
  readonly issuer: string | undefined
  readonly scopes: ReadonlyArray<string>
}

/** The configuration of one worker (JSON in its environment). */
export interface WorkerConfig {
  readonly id: number
  readonly store:
    | { readonly kind: "pg"; readonly url: string; readonly prefix: string }
    | { readonly kind: "sqlite"; readonly filename: string; readonly prefix: string }
    | { readonly kind: "memory" }
  readonly client: ClientConfig
  readonly apiBase: string
  /** The store keys the worker calls for, one fiber each. */
  readonly users: ReadonlyArray<string>
  /** Token sets (`TokenSet.StoredJson`) the worker saves before it is ready: for the memory store. */
  readonly seeds?: Readonly<Record<string, string>> | undefined
  readonly refreshWindowMillis: number
  readonly lockLeaseMillis: number
  readonly requestTimeoutMillis: number
  /** How long the worker calls after "go". */
  readonly runMillis: number
  /** The pause after each call, per user. */
  readonly pauseMillis: number
  /** Print `refresh-sent <fingerprint>` as each refresh request leaves, and `lock-taken <key> <millis>`. */
  readonly announceRefresh: boolean
}

/** Counts per user. */
export interface UserReport {
  readonly calls: number
  readonly ok: number
  readonly errors: Readonly<Record<string, number>>
  /** `ReauthorizationRequired` by reason. */
  readonly reauthorizationReasons: Readonly<Record<string, number>>
  /** When (`Date.now()`) the first `ReauthorizationRequired` came back, if one did. */
  readonly firstReauthorizationAt: number | null
}

/** What a worker prints at the end. */
export interface WorkerReport {
  readonly worker: number
  readonly calls: number
  readonly ok: number
  readonly statuses: Readonly<Record<string, number>>
  readonly errors: Readonly<Record<string, number>>
  readonly users: Readonly<Record<string, UserReport>>
  readonly maxCallMillis: number
}

/** How a worker ended. */
export interface WorkerExit {
  readonly id: number
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly report: WorkerReport | undefined
  readonly stderr: string
}

/** A running worker. */
export interface Worker {
  readonly id: number
  readonly child: ChildProcess
  /** Resolves when the worker printed `ready`; rejects if it ended before. */
  readonly ready: Promise<void>
  readonly exited: Promise<WorkerExit>
  /** Called with every line the worker prints, the ones printed so far first. */
  readonly onLine: (listener: (line: string) => void) => void
  readonly go: () => void
}

/** Starts a worker. */
export const spawnWorker = (config: WorkerConfig): Worker => {
  const child = spawn(process.execPath, [workerScript], {
    cwd: packageRoot,
    env: { ...process.env, EFFECT_OAUTH_WORKER: JSON.stringify(config) },
    stdio: ["pipe", "pipe", "pipe"]
  })
  const listeners: Array<(line: string) => void> = []
  const printed: Array<string> = []
  let report: WorkerReport | undefined
  let stderr = ""
  let buffered = ""
  let onReady: () => void = () => {}
  let onEarlyExit: (error: Error) => void = () => {}
  const ready = new Promise<void>((resolve, reject) => {
    onReady = resolve
    onEarlyExit = reject
  })
  child.stdout.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8")
    const lines = buffered.split("\n")
    buffered = lines.pop() ?? ""
    for (const line of lines) {
      if (line === "ready") onReady()
      if (line.startsWith("report ")) report = JSON.parse(line.slice("report ".length))
      printed.push(line)
      for (const listener of listeners) listener(line)
    }
  })
  child.stderr.on("data", (chunk: Buffer) => {
    if (stderr.length < 20_000) stderr += chunk.toString("utf8")
  })
  const exited = new Promise<WorkerExit>((resolve) => {
    child.on("exit", (code, signal) => {
      onEarlyExit(
        new Error(`worker ${config.id} ended before it was ready (code ${code}, signal ${signal}): ${stderr}`)
      )
      resolve({ id: config.id, code, signal, report, stderr })
    })
  })
  return {
    id: config.id,
    child,
    ready,
    exited,
    onLine: (listener) => {
      for (const line of printed) listener(line)
      listeners.push(listener)
    },
    go: () => void child.stdin.write("go\n")
  }
}

/** The client configuration for workers of a fake server (its first client, its endpoints). */
export const clientConfig = (server: FakeAuthorizationServer.FakeAuthorizationServer.Service): ClientConfig => {
  const options = OAuthTest.clientOptions(server.options)
  return {
    clientId: options.clientId,
    clientSecret: Redacted.value(options.clientSecret),
    redirectUri: String(options.redirectUri),
    authorizationEndpoint: String(options.authorizationEndpoint),
    tokenEndpoint: String(options.tokenEndpoint),
    revocationEndpoint: options.revocationEndpoint === undefined ? undefined : String(options.revocationEndpoint),
    issuer: options.issuer === undefined ? undefined : String(options.issuer),
    scopes: options.scopes ?? []
  }
}

/** How long after `runMillis` a worker may take to report and exit. */
const exitGraceMillis = 15_000

/** Dies naming the workers that have not exited, with what each says keeps it alive (SIGUSR2). */
const notExited = (running: ReadonlyArray<Worker>) =>
  Effect.gen(function*() {
    const exitedIds = new Set<number>()
    for (const worker of running) {
      void worker.exited.then(() => exitedIds.add(worker.id))
    }
    yield* Effect.sleep(Duration.millis(10))
    const hung = running.filter((worker) => !exitedIds.has(worker.id))
    for (const worker of hung) worker.child.kill("SIGUSR2")
    yield* Effect.sleep(Duration.millis(500))
    for (const worker of hung) worker.child.kill("SIGKILL")
    const exits = yield* Effect.promise(() => Promise.all(hung.map((worker) => worker.exited)))
    return yield* Effect.dieMessage(
      `${hung.length} worker(s) did not exit within ${exitGraceMillis} ms of the end of their run:\n${
        exits.map((exit) => `worker ${exit.id}: reported: ${exit.report !== undefined}; ${exit.stderr.slice(-2_000)}`)
          .join("\n")
      }`
    )
  })

/**
 * Starts every worker, lets them call together for `runMillis`, and returns how each one ended. Dies if
 * a worker has not exited `exitGraceMillis` after its run, saying what kept it alive.
 */
export const runWorkers = (
  configs: ReadonlyArray<WorkerConfig>,
  whileRunning: (workers: ReadonlyArray<Worker>) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<ReadonlyArray<WorkerExit>> =>
  Effect.acquireUseRelease(
    Effect.sync(() => configs.map(spawnWorker)),
    (running) =>
      Effect.gen(function*() {
        yield* Effect.promise(() => Promise.all(running.map((worker) => worker.ready))).pipe(
          Effect.timeoutFail({
            duration: Duration.seconds(30),
            onTimeout: () => new Error("the workers were not ready within 30 s")
          }),
          Effect.orDie
        )
        for (const worker of running) worker.go()
        yield* whileRunning(running)
        return yield* Effect.promise(() => Promise.all(running.map((worker) => worker.exited))).pipe(
          Effect.timeout(Duration.millis(Math.max(...configs.map((config) => config.runMillis)) + exitGraceMillis)),
          Effect.catchTag("TimeoutException", () => notExited(running))
        )
      }),
    (running) => Effect.sync(() => running.forEach((worker) => worker.child.kill("SIGKILL")))
  )

/** The first 12 hex digits of SHA-256(token), as workers print them: a token named without showing it. */
export const fingerprint = (token: string): string => createHash("sha256").update(token).digest("hex").slice(0, 12)

/**
 * Signs `users` in at the fake server over HTTP (live client) and saves their tokens in `store` under
 * their names, as a web application's callback would.
 */
export const signInUsers = <E>(
  users: ReadonlyArray<string>,
  store: Layer.Layer<TokenStore.TokenStore, E>
): Effect.Effect<void, unknown, FakeAuthorizationServer.FakeAuthorizationServer> =>
  Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) =>
    Effect.forEach(
      users,
      (user) =>
        Effect.flatMap(
          OAuthTest.signIn(user),
          (tokens) => Effect.flatMap(AccessTokens.AccessTokens, (access) => access.save(user, tokens))
        ),
      { discard: true }
    ).pipe(
      Effect.provide(
        AccessTokens.layer().pipe(
          Layer.provide(store),
          Layer.provideMerge(NodeOAuth.layer(OAuthTest.clientOptions(server.options)))
        )
      )
    ))

/** The fake authorization server over HTTP, strict: short access tokens, rotation, reuse revokes the family. */
export const strictFakeServer = (lifetimeMillis: number) =>
  NodeFakeAuthorizationServer.layer({
    server: {
      accessTokenLifetime: Duration.millis(lifetimeMillis),
      rotateRefreshTokens: true,
      reuseRevokesFamily: true,
      refreshGraceWindow: Duration.zero
    }
  })
