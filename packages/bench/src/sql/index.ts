/**
 * `pnpm bench` (after core's): N = 1, 2, 4, 8 worker processes (`packages/sql/test/fixtures/worker.mjs`) make
 * authorized calls for 3 users against the fake authorization server over HTTP, with 3-second access
 * tokens refreshed 1.5 s before expiry and rotated on every use.
 *
 * - Shared PostgreSQL store: refresh requests per expiry per user (target 1.0 at every N: each expiry
 *   of a user's token makes exactly one refresh request, whatever the number of processes), reused
 *   refresh tokens and invalid_grant answers (target 0), and authorized calls per second per process.
 * - Memory store (each process signs its own users in): authorized calls per second per process, the
 *   baseline for the shared store's.
 *
 * - Lock hand-over per store (`handover.ts`): the holder's write → the waiting instance's token.
 * - Callers' latency across a refresh with 4 processes, and the cross-process wake-up at true expiry,
 *   on PostgreSQL and SQLite (`crossProcessLatency.ts`).
 *
 * PostgreSQL: OAUTH_TEST_PG_URL if set, else a throwaway cluster as in the tests (fsync off). Exits 1
 * only when a correctness check fails, never because of a speed.
 *
 * The worker processes and the cluster are the sql package's multi-process test helpers
 * (`packages/sql/test/workers.ts`, `test/setup/postgres.ts`, free of vitest), imported as `tsc -b`
 * compiles them (`packages/sql/build/test/`, a referenced project), so the tests and the bench run the
 * same workers.
 */
import { TokenSet } from "@effect-oauth/core"
import * as NodeOAuth from "@effect-oauth/node/NodeOAuth"
import { SqlTokenStore } from "@effect-oauth/sql"
import { OAuthTest } from "@effect-oauth/testing"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomUUID } from "node:crypto"
import { startPostgres } from "../../../sql/build/test/setup/postgres.js"
import {
  clientConfig,
  missingDist,
  runWorkers,
  signInUsers,
  type WorkerConfig,
  type WorkerExit
} from "../../../sql/build/test/workers.js"
import { crossProcessLatency } from "./crossProcessLatency.js"
import { handover } from "./handover.js"

const lifetimeMillis = 3_000
const refreshWindowMillis = 1_500
const period = lifetimeMillis - refreshWindowMillis
const runMillis = 9_000
const processes = [1, 2, 4, 8] as const
const userCount = 3

class BenchmarkFailed extends Data.TaggedError("BenchmarkFailed")<{ readonly failures: ReadonlyArray<string> }> {
  override get message(): string {
    return `Correctness check failed: ${this.failures.join("; ")}`
  }
}

interface Row {
  readonly processes: number
  readonly store: string
  readonly refreshesPerExpiry: string
  readonly reused: number
  readonly invalidGrant: number
  readonly failedCalls: number
  readonly callsPerSecond: number
  readonly maxCallMillis: number
}

const postgres = Effect.acquireRelease(
  Effect.promise(async () => {
    const given = process.env["OAUTH_TEST_PG_URL"]
    return given !== undefined && given.length > 0
      ? { url: given, stop: async () => {} }
      : await startPostgres()
  }),
  (pg) => Effect.promise(() => pg.stop())
)

const workerConfig = (
  server: FakeAuthorizationServer.FakeAuthorizationServer.Service,
  id: number,
  store: WorkerConfig["store"],
  users: ReadonlyArray<string>,
  seeds?: Readonly<Record<string, string>>
): WorkerConfig => ({
  id,
  store,
  client: clientConfig(server),
  apiBase: server.endpoints.apiBase,
  users,
  seeds,
  refreshWindowMillis,
  lockLeaseMillis: 10_000,
  requestTimeoutMillis: 5_000,
  runMillis,
  pauseMillis: 0,
  announceRefresh: false
})

const summarize = (exits: ReadonlyArray<WorkerExit>) => {
  const reports = exits.flatMap((exit) => exit.report === undefined ? [] : [exit.report])
  const calls = reports.reduce((sum, report) => sum + report.calls, 0)
  const ok = reports.reduce((sum, report) => sum + report.ok, 0)
  return {
    crashed: exits.filter((exit) => exit.code !== 0 || exit.report === undefined).map((exit) => exit.id),
    failedCalls: calls - ok,
    callsPerSecond: ok / (runMillis / 1000) / Math.max(1, exits.length),
    maxCallMillis: Math.max(0, ...reports.map((report) => report.maxCallMillis))
  }
}

/** Signs users in and returns their token sets as stored JSON, for workers with a memory store. */
const signInSeeds = (server: FakeAuthorizationServer.FakeAuthorizationServer.Service, users: ReadonlyArray<string>) =>
  Effect.forEach(
    users,
    (user) =>
      Effect.flatMap(
        OAuthTest.signIn(user),
        (tokens) => Effect.map(Schema.encode(TokenSet.StoredJson)(tokens), (json) => [user, json] as const)
      )
  ).pipe(
    Effect.map((entries) => Object.fromEntries(entries)),
    Effect.provide(NodeOAuth.layer(OAuthTest.clientOptions(server.options)))
  )

const shared = (pgUrl: string, n: number) =>
  Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const prefix = `bench_${randomUUID().replace(/-/g, "").slice(0, 10)}_`
    const users = Array.from({ length: userCount }, (_, i) => `pg-${n}-${i}`)
    const store = SqlTokenStore.layer({ tablePrefix: prefix }).pipe(
      Layer.provide(PgClient.layer({ url: Redacted.make(pgUrl) }))
    )
    yield* signInUsers(users, store)
    yield* server.clearLog
    const exits = yield* runWorkers(
      Array.from({ length: n }, (_, id) => workerConfig(server, id, { kind: "pg", url: pgUrl, prefix }, users))
    )
    const requests = yield* server.requests
    const refreshes = requests.filter((request) => request.grantType === "refresh_token")
    const presented = new Set(refreshes.map((request) => request.refreshTokenPresented))
    const summary = summarize(exits)
    const row: Row = {
      processes: n,
      store: "PostgreSQL (shared)",
      refreshesPerExpiry: (refreshes.length / Math.max(1, presented.size)).toFixed(2),
      reused: refreshes.filter((request) => request.reusedRefreshToken).length,
      invalidGrant: refreshes.filter((request) => request.error === "invalid_grant").length,
      failedCalls: summary.failedCalls,
      callsPerSecond: summary.callsPerSecond,
      maxCallMillis: summary.maxCallMillis
    }
    const perUser = (refreshes.length / userCount).toFixed(1)
    const expected = (runMillis / period).toFixed(1)
    const failures = [
      ...(row.refreshesPerExpiry === "1.00" ? [] : [`N=${n}: ${row.refreshesPerExpiry} refresh requests per expiry`]),
      ...(row.reused + row.invalidGrant === 0
        ? []
        : [`N=${n}: ${row.reused} reused, ${row.invalidGrant} invalid_grant`]),
      ...(summary.failedCalls === 0 ? [] : [`N=${n}: ${summary.failedCalls} failed calls`]),
      ...(summary.crashed.length === 0 ? [] : [`N=${n}: workers ${summary.crashed.join(", ")} failed`])
    ]
    return {
      row,
      note: `N=${n}: ${perUser} refreshes per user in ${runMillis / 1000} s (one per ${period} ms: ${expected})`,
      failures
    }
  })

const memory = (n: number) =>
  Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const configs: Array<WorkerConfig> = []
    for (let id = 0; id < n; id++) {
      const users = Array.from({ length: userCount }, (_, i) => `mem-${n}-${id}-${i}`)
      configs.push(workerConfig(server, id, { kind: "memory" }, users, yield* signInSeeds(server, users)))
    }
    yield* server.clearLog
    const summary = summarize(yield* runWorkers(configs))
    const row: Row = {
      processes: n,
      store: "memory (per process)",
      refreshesPerExpiry: "",
      reused: (yield* server.counters).reusedRefreshTokens,
      invalidGrant: 0,
      failedCalls: summary.failedCalls,
      callsPerSecond: summary.callsPerSecond,
      maxCallMillis: summary.maxCallMillis
    }
    return { row, failures: summary.failedCalls === 0 ? [] : [`memory N=${n}: ${summary.failedCalls} failed calls`] }
  })

const table = (rows: ReadonlyArray<Row>): string => {
  const header = [
    "processes",
    "store",
    "refreshes/expiry",
    "reused",
    "invalid_grant",
    "failed calls",
    "calls/s/process",
    "max call ms"
  ]
  const cells = rows.map((row) => [
    String(row.processes),
    row.store,
    row.refreshesPerExpiry === "" ? "-" : `${row.refreshesPerExpiry} (target 1.00)`,
    String(row.reused),
    String(row.invalidGrant),
    String(row.failedCalls),
    row.callsPerSecond.toFixed(0),
    String(row.maxCallMillis)
  ])
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((line) => line[i]?.length ?? 0)))
  const format = (line: ReadonlyArray<string>) =>
    line.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ").trimEnd()
  return [format(header), ...cells.map(format)].join("\n")
}

const main = Effect.gen(function*() {
  const missing = missingDist()
  if (missing !== undefined) return yield* new BenchmarkFailed({ failures: [missing] })
  const pg = yield* postgres
  yield* Effect.sync(() => console.error("running: lock hand-over per store…"))
  const handoverTable = yield* handover(pg.url)
  yield* Effect.sync(() => console.log(handoverTable))
  yield* Effect.sync(() => console.error("running: callers' latency across a refresh, 4 processes…"))
  const latency = yield* crossProcessLatency(pg.url)
  yield* Effect.sync(() => console.log(`\n${latency.table}\n`))
  const rows: Array<Row> = []
  const notes: Array<string> = []
  const failures: Array<string> = [...latency.failures]
  for (const n of processes) {
    yield* Effect.sync(() => console.error(`running: ${n} process(es), shared PostgreSQL store…`))
    const result = yield* shared(pg.url, n)
    rows.push(result.row)
    notes.push(result.note)
    failures.push(...result.failures)
    yield* Effect.sync(() => console.error(`running: ${n} process(es), memory store…`))
    const baseline = yield* memory(n)
    rows.push(baseline.row)
    failures.push(...baseline.failures)
  }
  yield* Effect.sync(() => {
    console.log(table(rows))
    console.log(notes.join("\n"))
  })
  if (failures.length > 0) return yield* new BenchmarkFailed({ failures })
}).pipe(
  Effect.scoped,
  Effect.provide(
    NodeFakeAuthorizationServer.layer({
      server: {
        accessTokenLifetime: Duration.millis(lifetimeMillis),
        rotateRefreshTokens: true,
        reuseRevokesFamily: true,
        refreshGraceWindow: Duration.zero
      }
    })
  )
)

NodeRuntime.runMain(main)
