/**
 * Faults across a cluster (SPEC S44–S48): worker processes (`fixtures/worker.mjs`) share one store
 * (PostgreSQL or SQLite) and the fake authorization server over HTTP, strict: short access tokens,
 * rotation on every refresh, and reuse of a rotated refresh token revokes the whole grant. The test
 * injects one fault per case while they call:
 *
 * - the server commits a rotation and drops the connection before answering;
 * - PostgreSQL is stopped while a refresh answer is in flight, and started again;
 * - the lock holder is SIGKILLed, or SIGSTOPped for a while, in the middle of a refresh;
 * - refresh answers are delayed close to the token lifetime.
 *
 * PostgreSQL is a cluster of its own here (`halt` and `resume` stop and start it).
 *
 * Every case checks the same rules: the library never presents a refresh token twice (the server's
 * reuse counter stays 0), one refresh request per rotation, every grant the fault did not make
 * unrecoverable survives (its last calls succeed), a grant whose answer was lost ends only in
 * `ReauthorizationRequired`, and no caller waits without end.
 */
import * as SqlTokenStore from "@effect-oauth/sql/SqlTokenStore"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { randomUUID } from "node:crypto"
import * as path from "node:path"
import { type Postgres, startPostgres } from "./setup/postgres.js"
import { sqliteClient, tempDir } from "./utils.js"
import {
  clientConfig,
  fingerprint,
  missingDist,
  runWorkers,
  signInUsers,
  strictFakeServer,
  type Worker,
  type WorkerConfig,
  type WorkerExit
} from "./workers.js"

const lifetimeMillis = 3_000
/** How much earlier than its expiry an access token may stop serving (clocks, the time an answer takes). */
const toleranceMillis = 250
const refreshWindowMillis = 1_500
const leaseMillis = 4_000
const requestTimeoutMillis = 2_500
const runMillis = 6_000
const workers = 3
const users = ["ann", "bob"] as const

const dir = tempDir("faults")

// A database of its own: one case stops and restarts it, which the other test files must not see.
let postgres: Postgres | undefined
beforeAll(async () => {
  const missing = missingDist()
  if (missing !== undefined) throw new Error(missing)
  postgres = await startPostgres({ durable: true })
}, 60_000)
afterAll(async () => {
  await postgres?.stop()
}, 60_000)

const pgUrl = () => {
  if (postgres === undefined) throw new Error("PostgreSQL did not start")
  return postgres.url
}

type StoreKind = "pg" | "sqlite"

const storeOf = (kind: StoreKind) => {
  if (kind === "pg") {
    const prefix = `f_${randomUUID().replace(/-/g, "").slice(0, 10)}_`
    return {
      layer: SqlTokenStore.layer({ tablePrefix: prefix }).pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(pgUrl()), maxConnections: 4 }))
      ),
      config: { kind: "pg", url: pgUrl(), prefix } as const
    }
  }
  const filename = path.join(dir, `${randomUUID()}.sqlite`)
  return {
    layer: SqlTokenStore.layer().pipe(Layer.provide(sqliteClient(filename))),
    config: { kind: "sqlite", filename, prefix: "effect_oauth_" } as const
  }
}

/** The first worker to announce a refresh, and when. */
const firstRefresher = (running: ReadonlyArray<Worker>) =>
  Effect.gen(function*() {
    const first = yield* Deferred.make<Worker>()
    for (const worker of running) {
      worker.onLine((line) => {
        if (line.startsWith("refresh-sent ")) Deferred.unsafeDone(first, Exit.succeed(worker))
      })
    }
    return yield* Deferred.await(first).pipe(
      Effect.timeoutFail({ duration: Duration.seconds(15), onTimeout: () => "no worker refreshed" }),
      Effect.orDie
    )
  })

interface Killed {
  readonly id: number
  readonly at: number
}

interface Case {
  readonly name: string
  /**
   * How many grants the fault may make unrecoverable: a refresh whose answer was lost, or whose holder
   * died mid-refresh, leaves its refresh token possibly spent (S44), so that user signs in again.
   */
  readonly mayLose: number
  /** The users whose refresh the killed worker had sent may be lost too (their tokens died with it). */
  readonly lostWithKilled?: boolean
  readonly stores: ReadonlyArray<StoreKind>
  /** Set up before the workers start. */
  readonly before?: (server: FakeAuthorizationServer.FakeAuthorizationServer.Service) => Effect.Effect<void>
  /** Runs while the workers call; returns the worker it killed and when (`Date.now()`), if any. */
  readonly during: (
    running: ReadonlyArray<Worker>,
    server: FakeAuthorizationServer.FakeAuthorizationServer.Service
  ) => Effect.Effect<Killed | undefined>
}

/**
 * Every refresh answer is delayed by `millis`, so that the first worker to announce a refresh is still
 * waiting for its answer (and holding the key's lock) when the fault strikes.
 */
const delayRefreshes = (millis: number) => (server: FakeAuthorizationServer.FakeAuthorizationServer.Service) =>
  server.inject(
    FakeAuthorizationServer.Fault.Delay({
      endpoint: "token",
      grantType: "refresh_token",
      duration: Duration.millis(millis),
      times: 1_000
    })
  )

const cases: ReadonlyArray<Case> = [
  {
    name: "the server commits a rotation and drops the connection before answering (S44)",
    mayLose: 1,
    stores: ["pg", "sqlite"],
    before: (server) =>
      server.inject(FakeAuthorizationServer.Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" })),
    during: () => Effect.succeed(undefined)
  },
  {
    name: "the lock holder is SIGKILLed mid-refresh (S44, S45)",
    mayLose: 1,
    stores: ["pg", "sqlite"],
    before: delayRefreshes(800),
    during: (running) =>
      Effect.gen(function*() {
        const worker = yield* firstRefresher(running)
        yield* Effect.sleep(Duration.millis(300))
        const at = Date.now()
        worker.child.kill("SIGKILL")
        return { id: worker.id, at }
      }),
    // Every refresh the killed worker had in flight is possibly spent, one per user at most.
    lostWithKilled: true
  },
  {
    name:
      "the lock holder is SIGSTOPped mid-refresh past its request deadline but within its lease, then continued: the answer that arrived meanwhile is kept (S45, S48)",
    mayLose: 0,
    stores: ["pg", "sqlite"],
    before: delayRefreshes(600),
    during: (running) =>
      Effect.gen(function*() {
        const worker = yield* firstRefresher(running)
        // The request is announced as it is handed to the client: let it leave before the pause (its
        // answer comes 600 ms after it, while the worker is stopped).
        yield* Effect.sleep(Duration.millis(150))
        worker.child.kill("SIGSTOP")
        // Longer than the request timeout (its deadline is overdue when it runs again, and the answer
        // waits unread in its socket), shorter than the lease.
        yield* Effect.sleep(Duration.millis(requestTimeoutMillis + 200))
        worker.child.kill("SIGCONT")
        return undefined
      })
  },
  {
    name: "PostgreSQL is stopped while a refresh answer is in flight and started again (S44, S45)",
    mayLose: 0,
    stores: ["pg"],
    before: delayRefreshes(600),
    during: (running) =>
      Effect.gen(function*() {
        yield* firstRefresher(running)
        const database = postgres
        if (database === undefined) return yield* Effect.dieMessage("PostgreSQL did not start")
        yield* Effect.promise(() => database.halt())
        yield* Effect.sleep(Duration.millis(1_500))
        yield* Effect.promise(() => database.resume())
        return undefined
      })
  },
  {
    name: "refresh answers are delayed close to the token lifetime (S46, S47)",
    mayLose: 0,
    stores: ["pg", "sqlite"],
    before: delayRefreshes(refreshWindowMillis - 300),
    during: () => Effect.succeed(undefined)
  }
]

describe("faults across a cluster: worker processes sharing one store and a strict server over HTTP", () => {
  for (const fault of cases) {
    for (const kind of fault.stores) {
      it.live(
        `${
          kind === "pg" ? "PostgreSQL" : "SQLite"
        }: ${fault.name}: no refresh token sent twice, one request per rotation, every grant not lost survives`,
        () =>
          Effect.gen(function*() {
            const store = storeOf(kind)
            const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
            yield* signInUsers(users, store.layer)
            if (fault.before !== undefined) yield* fault.before(server)
            const configs: ReadonlyArray<WorkerConfig> = Array.from({ length: workers }, (_, id) => ({
              id,
              store: store.config,
              client: clientConfig(server),
              apiBase: server.endpoints.apiBase,
              users,
              refreshWindowMillis,
              lockLeaseMillis: leaseMillis,
              requestTimeoutMillis,
              runMillis,
              pauseMillis: 50,
              announceRefresh: true
            }))
            let killedBy: Killed | undefined = undefined
            const sent = new Map<number, Array<string>>()
            const locks: Array<
              { readonly worker: number; readonly key: string; readonly at: number; readonly taken: boolean }
            > = []
            const exits = yield* runWorkers(configs, (running) => {
              for (const worker of running) {
                worker.onLine((line) => {
                  if (line.startsWith("refresh-sent ")) {
                    sent.set(worker.id, [...(sent.get(worker.id) ?? []), line.slice("refresh-sent ".length)])
                  }
                  if (line.startsWith("lock-taken ") || line.startsWith("lock-released ")) {
                    const [event, key = "", at = ""] = line.split(" ")
                    locks.push({ worker: worker.id, key, at: Number(at), taken: event === "lock-taken" })
                  }
                })
              }
              return Effect.map(fault.during(running, server), (result) => {
                killedBy = result
              })
            })
            const killed = (killedBy as Killed | undefined)?.id
            const killedSent = new Set(killed === undefined ? [] : sent.get(killed) ?? [])
            const grants = yield* server.grants
            const killedUsers = fault.lostWithKilled === true
              ? grants.filter((grant) => grant.refreshTokens.some((token) => killedSent.has(fingerprint(token))))
                .map((grant) => grant.user)
              : []
            yield* assertRules(server, exits, killed, fault.mayLose, killedUsers, killedSent)
            if (killedBy !== undefined && fault.lostWithKilled === true) {
              const { at, id } = killedBy as Killed
              // The keys whose lock the killed worker held when it died: its last word on them was "taken".
              const heldAtKill = users.filter((user) =>
                locks.filter((lock) => lock.worker === id && lock.key === user && lock.at <= at).at(-1)?.taken === true
              )
              assert.isAtLeast(
                heldAtKill.length,
                1,
                `the killed worker held no lock: ${
                  JSON.stringify(
                    locks.filter((lock) => lock.worker === id).map((lock) => ({ ...lock, at: lock.at - at }))
                  )
                }`
              )
              for (const user of heldAtKill) {
                const next = locks.find((lock) =>
                  lock.taken && lock.key === user && lock.worker !== id && lock.at >= at
                )
                assert.isDefined(next, `${user}: no other worker took the lock after the kill`)
                const freedMillis = (next?.at ?? Infinity) - at
                yield* Effect.logInfo(
                  `${kind}: ${user}'s lock taken by another worker ${freedMillis} ms after its holder was killed`
                )
                // S45: on PostgreSQL the lock lives with the holder's session; SQLite waits for the lease.
                if (kind === "pg") assert.isBelow(freedMillis, 1_000, `${user}: the killed holder's lock was not freed`)
                else assert.isBelow(freedMillis, leaseMillis + 1_000, `${user}: the lease did not free the lock`)
              }
            }
          }).pipe(Effect.provide(strictFakeServer(lifetimeMillis))),
        60_000
      )
    }
  }
})

const assertRules = (
  server: FakeAuthorizationServer.FakeAuthorizationServer.Service,
  exits: ReadonlyArray<WorkerExit>,
  killed: number | undefined,
  mayLose: number,
  killedUsers: ReadonlyArray<string>,
  killedSent: ReadonlySet<string>
) =>
  Effect.gen(function*() {
    const requests = yield* server.requests
    const counters = yield* server.counters
    const grants = yield* server.grants
    const refreshes = requests.filter((request) => request.grantType === "refresh_token")

    // S17, S44: the library never presents a refresh token twice, so the server never saw a reuse.
    assert.strictEqual(counters.reusedRefreshTokens, 0, "a rotated refresh token was sent again")
    const presented = new Map<string, number>()
    for (const request of refreshes) {
      const token = request.refreshTokenPresented
      if (token !== undefined) presented.set(token, (presented.get(token) ?? 0) + 1)
    }
    const twice = [...presented].filter(([, count]) => count > 1).map(([token]) => fingerprint(token))
    assert.deepStrictEqual(twice, [], "a refresh token was presented more than once (requests per rotation > 1)")

    for (const exit of exits) {
      if (exit.id === killed) {
        assert.strictEqual(exit.signal, "SIGKILL")
        continue
      }
      assert.strictEqual(exit.code, 0, `worker ${exit.id} failed: ${exit.stderr}`)
      assert.isDefined(exit.report, `worker ${exit.id} sent no report`)
    }
    const survivors = exits.flatMap((exit) => exit.id === killed || exit.report === undefined ? [] : [exit.report])
    const lost: Array<string> = []

    for (const user of users) {
      const grant = grants.find((candidate) => candidate.user === user)
      assert.isDefined(grant)
      if (grant === undefined) continue
      // A grant is lost only when a rotation it made never reached the store: the server issued a
      // refresh token that no later request presented, and the user had to stop.
      const reports = survivors.flatMap((report) => {
        const entry = report.users[user]
        return entry === undefined ? [] : [entry]
      })
      const errors = new Set(reports.flatMap((entry) => Object.keys(entry.errors)))
      const ok = reports.reduce((sum, entry) => sum + entry.ok, 0)
      assert.isFalse(grant.revoked, `${user}: the grant was revoked (a reuse the library caused)`)
      if (errors.has("ReauthorizationRequired")) {
        // This grant was lost to the fault: the user is asked to sign in again, nothing else (a store
        // that is down fails calls with TokenStoreError meanwhile).
        lost.push(user)
        for (const error of errors) {
          assert.include(
            ["ReauthorizationRequired", "RefreshOutcomeUnknown", "TokenStoreError"],
            error,
            `${user}: unexpected ${error}`
          )
        }
        const reasons = new Set(reports.flatMap((entry) => Object.keys(entry.reauthorizationReasons)))
        assert.deepStrictEqual([...reasons], ["refresh-outcome-unknown"], `${user}: lost for another reason`)
        // S44: only after the access token it had when the answer was lost expired. The last token
        // response delivered for this grant (the sign-in, or a refresh) to a worker that lived on
        // issued it.
        const issuedAt = Math.max(
          grant.createdAt,
          ...refreshes.filter((request) =>
            request.delivered && request.status === 200 && request.refreshTokenPresented !== undefined &&
            grant.refreshTokens.includes(request.refreshTokenPresented) &&
            !killedSent.has(fingerprint(request.refreshTokenPresented))
          ).map((request) => request.at)
        )
        const firstReauthorization = Math.min(
          ...reports.flatMap((entry) => entry.firstReauthorizationAt === null ? [] : [entry.firstReauthorizationAt])
        )
        assert.isAtLeast(
          firstReauthorization,
          issuedAt + lifetimeMillis - toleranceMillis,
          `${user}: asked to sign in again ${
            issuedAt + lifetimeMillis - firstReauthorization
          } ms before its access token expired`
        )
      } else {
        // Every grant the fault did not make unrecoverable survives: its calls succeed (a store that is
        // down fails calls with TokenStoreError while it is down, and only then).
        for (const error of errors) assert.include(["TokenStoreError"], error, `${user}: unexpected ${error}`)
        assert.isAtLeast(ok, 1, `${user}: no call succeeded`)
      }
      // No waiter starves: every surviving worker kept calling for every user.
      for (const report of survivors) {
        assert.isAtLeast(
          report.users[user]?.calls ?? 0,
          2,
          `worker ${report.worker} starved on ${user} (longest call ${report.maxCallMillis} ms)`
        )
      }
    }
    // Only grants the fault made unrecoverable are lost: those of the killed worker's refreshes in
    // flight, or else at most `mayLose`.
    const unexplained = lost.filter((user) => !killedUsers.includes(user))
    assert.isAtMost(
      killedUsers.length > 0 ? unexplained.length : lost.length,
      killedUsers.length > 0 ? 0 : mayLose,
      `grants lost: ${lost.join(", ")}`
    )
  })
