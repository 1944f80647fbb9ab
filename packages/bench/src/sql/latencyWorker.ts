/**
 * A worker process of the cross-process latency benchmark (`crossProcessLatency.ts`): one application
 * instance over the shared store (PostgreSQL or SQLite), calling `AccessTokens.get` as an application's
 * request handlers would. Spawned as `node build/sql/latencyWorker.js` with its configuration (JSON,
 * `LatencyWorkerConfig`) in EFFECT_OAUTH_LATENCY_WORKER.
 *
 * Protocol on stdout, one line each:
 *   ready           the layers are built and the due key's tokens are in this process's cache (fresh)
 *   report <json>   what was measured (`LatencyWorkerReport`), after the run
 * and on stdin: `go <json>` (`LatencyWorkerGo`): when to start the callers and each true-expiry round.
 *
 * 1. Callers across a refresh: from `startAt`, one `get` of the due key arriving every millisecond for
 *    `callers` milliseconds; each caller's latency from its start and from its scheduled arrival. The key's tokens become due (inside the refresh
 *    window, valid for longer than `minValidity`) at `startAt`, so the first caller starts a background
 *    refresh and every caller should be answered from the cache.
 * 2. True expiry: at each round's instant, one `get` of that round's key, whose stored tokens have
 *    expired; one worker refreshes under the store's lock and the others wait for it. The store is
 *    wrapped to note when this process's `set` of a key completed, so the parent can compute the time
 *    from the holder's write to each waiter's token.
 */
import { AccessTokens, OAuthClient, OAuthConfig, TokenStore } from "@effect-oauth/core"
import * as NodeOAuth from "@effect-oauth/node/NodeOAuth"
import { SqlTokenStore } from "@effect-oauth/sql"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { createHash } from "node:crypto"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type { ClientConfig } from "../../../sql/build/test/workers.js"

/** The configuration of one worker. */
export interface LatencyWorkerConfig {
  readonly id: number
  readonly store:
    | { readonly kind: "pg"; readonly url: string; readonly prefix: string }
    | { readonly kind: "sqlite"; readonly filename: string; readonly prefix: string }
  readonly client: ClientConfig
  readonly dueKey: string
  /** `Date.now()` from which the due key's tokens are inside the refresh window. */
  readonly dueAt: number
  /** One key per true-expiry round. */
  readonly expiredKeys: ReadonlyArray<string>
  readonly callers: number
  readonly refreshWindowMillis: number
  readonly requestTimeoutMillis: number
  readonly lockLeaseMillis: number
}

/** The `go` line's payload. */
export interface LatencyWorkerGo {
  /** `Date.now()` at which the first caller starts. */
  readonly startAt: number
  /** `Date.now()` of each true-expiry round, one per expired key. */
  readonly expiryAt: ReadonlyArray<number>
}

/** One true-expiry round, as this worker saw it. Instants are `performance.timeOrigin + performance.now()`. */
export interface ExpiryRound {
  readonly key: string
  /** When this worker's `get` started. */
  readonly calledAt: number
  /** When this worker's `get` returned. */
  readonly tokenAt: number
  /** The access token it got (first 12 hex digits of its SHA-256). */
  readonly token: string
  /** When this worker's own `set` of the key completed, if it wrote it (it held the lock and refreshed). */
  readonly wroteAt: number | null
}

/** What a worker prints at the end. */
export interface LatencyWorkerReport {
  readonly id: number
  /** Every caller's latency from its start, ms, in the order they started. */
  readonly latencies: ReadonlyArray<number>
  /** Every caller's latency from its scheduled arrival (one per millisecond from the start), ms. */
  readonly fromArrival: ReadonlyArray<number>
  /** The longest the event loop was blocked while the callers ran, ms (`monitorEventLoopDelay`). */
  readonly loopDelayMax: number
  /** The access tokens the callers got (fingerprints), with counts. */
  readonly tokens: Readonly<Record<string, number>>
  /** The due key's token once this process's background refresh (its own or adopted) settled. */
  readonly settled: string
  readonly rounds: ReadonlyArray<ExpiryRound>
}

const config: LatencyWorkerConfig = JSON.parse(process.env["EFFECT_OAUTH_LATENCY_WORKER"] ?? "null")

/** A shared clock across processes, sub-millisecond. */
const wallClock = () => performance.timeOrigin + performance.now()

const fingerprint = (token: Redacted.Redacted<string>) =>
  createHash("sha256").update(Redacted.value(token)).digest("hex").slice(0, 12)

const line = (text: string) => Effect.sync(() => void process.stdout.write(`${text}\n`))

const sqlClient = config.store.kind === "pg"
  ? PgClient.layer({ url: Redacted.make(config.store.url), maxConnections: 4 })
  : Layer.effectDiscard(Effect.flatMap(SqliteClient.SqliteClient, (sql) => sql.unsafe("PRAGMA busy_timeout = 5000")))
    .pipe(Layer.provideMerge(SqliteClient.layer({ filename: config.store.filename })))

/** When this process's `set` of each key last completed. */
const wrote = new Map<string, number>()

const store = Layer.effect(
  TokenStore.TokenStore,
  Effect.map(TokenStore.TokenStore, (inner): TokenStore.Service => ({
    ...inner,
    set: (key, tokens, options) =>
      Effect.tap(inner.set(key, tokens, options), () => Effect.sync(() => void wrote.set(key, wallClock())))
  }))
).pipe(Layer.provide(SqlTokenStore.layer({ tablePrefix: config.store.prefix }).pipe(Layer.provide(sqlClient))))

const oauth = OAuthClient.layerWithConfig({
  ...OAuthConfig.credal({
    clientId: config.client.clientId,
    clientSecret: Redacted.make(config.client.clientSecret),
    redirectUri: config.client.redirectUri,
    authorizationEndpoint: config.client.authorizationEndpoint,
    tokenEndpoint: config.client.tokenEndpoint,
    revocationEndpoint: config.client.revocationEndpoint,
    issuer: config.client.issuer,
    scopes: config.client.scopes
  }),
  requestTimeout: Duration.millis(config.requestTimeoutMillis)
}).pipe(Layer.provide(NodeOAuth.layerHttpClient))

// The defaults: background refresh, `minValidity` = request timeout + 5 s.
const live = AccessTokens.layer({
  refreshWindow: Duration.millis(config.refreshWindowMillis),
  lockLease: Duration.millis(config.lockLeaseMillis)
}).pipe(Layer.provideMerge(store), Layer.provideMerge(oauth))

const waitForGo = Effect.async<LatencyWorkerGo>((resume) => {
  let buffered = ""
  const onData = (chunk: Buffer) => {
    buffered += chunk.toString("utf8")
    const found = buffered.split("\n").find((text) => text.startsWith("go "))
    if (found !== undefined) resume(Effect.succeed(JSON.parse(found.slice("go ".length))))
  }
  const onEnd = () => resume(Effect.dieMessage("stdin closed before go"))
  process.stdin.on("data", onData)
  process.stdin.on("end", onEnd)
  return Effect.sync(() => {
    process.stdin.off("data", onData)
    process.stdin.off("end", onEnd)
    process.stdin.pause()
  })
})

const sleepUntil = (at: number) => Effect.suspend(() => Effect.sleep(Duration.millis(Math.max(0, at - Date.now()))))

const program = Effect.gen(function*() {
  const tokens = yield* AccessTokens.AccessTokens
  // Loads the due key into the cache while its tokens are fresh, and runs the hot path once.
  const initial = fingerprint(yield* tokens.get(config.dueKey))
  if (Date.now() >= config.dueAt) {
    return yield* Effect.dieMessage(`worker ${config.id} was ready only after the tokens became due`)
  }
  yield* line("ready")
  const go = yield* waitForGo
  yield* sleepUntil(go.startAt)

  const seen: Record<string, number> = {}
  // Caller i arrives at `first + i` ms. Its latency is measured from its start, as in the one-process
  // bench, and from its arrival: a caller due while the event loop was blocked starts late, and only
  // the second figure shows what it waited.
  const first = performance.now()
  const caller = (arrival: number) =>
    Effect.suspend(() => {
      const started = performance.now()
      return Effect.map(tokens.get(config.dueKey), (accessToken) => {
        const answered = performance.now()
        const token = fingerprint(accessToken)
        seen[token] = (seen[token] ?? 0) + 1
        return [answered - started, answered - arrival] as const
      })
    })
  // What the callers' latency cannot be below: the time this process's event loop was not running them.
  const loop = monitorEventLoopDelay({ resolution: 1 })
  loop.enable()
  const fibers: Array<Fiber.RuntimeFiber<readonly [number, number], AccessTokens.GetError>> = []
  for (let i = 0; i < config.callers; i++) {
    const arrival = first + i
    const ahead = arrival - performance.now()
    if (ahead > 0) yield* Effect.sleep(Duration.millis(ahead))
    fibers.push(yield* Effect.fork(caller(arrival)))
  }
  const answers = yield* Fiber.joinAll(fibers)
  loop.disable()

  // The background refresh this process started has settled once `get` answers a new token.
  let settled = initial
  const settleBy = Date.now() + 10_000
  while (settled === initial && Date.now() < settleBy) {
    settled = fingerprint(yield* tokens.get(config.dueKey))
    if (settled === initial) yield* Effect.sleep(Duration.millis(5))
  }

  const rounds: Array<ExpiryRound> = []
  for (const [i, key] of config.expiredKeys.entries()) {
    yield* sleepUntil(go.expiryAt[i] ?? 0)
    const calledAt = wallClock()
    const accessToken = yield* tokens.get(key)
    const tokenAt = wallClock()
    rounds.push({ key, calledAt, tokenAt, token: fingerprint(accessToken), wroteAt: wrote.get(key) ?? null })
  }

  const report: LatencyWorkerReport = {
    id: config.id,
    latencies: answers.map(([ms]) => Math.round(ms * 1000) / 1000),
    fromArrival: answers.map(([, ms]) => Math.round(ms * 1000) / 1000),
    loopDelayMax: loop.max / 1e6,
    tokens: seen,
    settled,
    rounds
  }
  yield* line(`report ${JSON.stringify(report)}`)
})

Effect.runPromise(Effect.scoped(Effect.provide(program, live))).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`worker ${config.id} failed: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
)
