/**
 * SPEC S20 and S21 with a real crash: a worker process is killed with SIGKILL while it holds a key's
 * lock in the middle of a refresh (the fake server holds its token responses for a while, so the
 * refresh request is surely in flight). Its lock dies with its database session, so the other workers
 * go on at once, not after the lease (S45).
 *
 * Whether the user of the killed refresh must sign in again depends on what the server did with the
 * request the killed worker never got an answer to:
 * - it never processed it (the connection died while the request waited): the refresh token is still
 *   good, another worker refreshes with it after the lease, and no user signs in again;
 * - it processed it (rotated the refresh token, whose successor died with the worker): the next
 *   refresh presents a rotated token, the server refuses it (reuse), and exactly that user gets
 *   `ReauthorizationRequired`, nobody else.
 * The test reads which one happened from the server's log and asserts the matching outcome.
 */
import * as SqlTokenStore from "@effect-oauth/sql/SqlTokenStore"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import { assert, beforeAll, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { randomUUID } from "node:crypto"
import { inject } from "vitest"
import { pgClient } from "./utils.js"
import {
  clientConfig,
  fingerprint,
  missingDist,
  runWorkers,
  signInUsers,
  strictFakeServer,
  type Worker
} from "./workers.js"

const lifetimeMillis = 3_000
const refreshWindowMillis = 1_500
const leaseMillis = 4_000
/** How long the server holds every refresh response until the kill. */
const delayMillis = 1_500
const runMillis = 12_000
const workers = 4
const users = ["ann", "bob", "cy"] as const

beforeAll(() => {
  const missing = missingDist()
  if (missing !== undefined) throw new Error(missing)
})

interface Kill {
  readonly worker: number
  /** When the first `refresh-sent` line came (the worker held that key's lock then). */
  readonly announcedAt: number
  /** The refresh tokens (fingerprints) the killed worker had sent. */
  readonly fingerprints: ReadonlyArray<string>
}

describe("a worker killed mid-refresh (PostgreSQL store)", () => {
  it.live(
    "SIGKILL while holding the lock mid-refresh: the others go on at once, not after the lease (S45); no user signs in again unless the server had rotated the token the killed worker never stored, and then exactly that user gets ReauthorizationRequired (S20, S21)",
    () =>
      Effect.gen(function*() {
        const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
        const prefix = `crash_${randomUUID().replace(/-/g, "").slice(0, 10)}_`
        yield* signInUsers(users, SqlTokenStore.layer({ tablePrefix: prefix }).pipe(Layer.provide(pgClient())))

        // Every refresh response is held until the kill, so the one being killed is surely in flight.
        yield* server.inject(
          FakeAuthorizationServer.Fault.Delay({
            endpoint: "token",
            grantType: "refresh_token",
            duration: Duration.millis(delayMillis),
            times: 1_000
          })
        )

        const killed = yield* Deferred.make<Kill>()
        const killFirstRefresher = (running: ReadonlyArray<Worker>) =>
          Effect.gen(function*() {
            const first = yield* Deferred.make<{ readonly worker: Worker; readonly at: number }>()
            const sent = new Map<number, Array<string>>()
            for (const worker of running) {
              worker.onLine((line) => {
                if (!line.startsWith("refresh-sent ")) return
                sent.set(worker.id, [...(sent.get(worker.id) ?? []), line.slice("refresh-sent ".length)])
                Deferred.unsafeDone(first, Exit.succeed({ worker, at: Date.now() }))
              })
            }
            const { at, worker } = yield* Deferred.await(first).pipe(
              Effect.timeoutFail({ duration: Duration.seconds(20), onTimeout: () => "no worker refreshed" }),
              Effect.orDie
            )
            // Long enough for the request to reach the server, well within the server's delay.
            yield* Effect.sleep(Duration.millis(300))
            worker.child.kill("SIGKILL")
            yield* Deferred.succeed(killed, {
              worker: worker.id,
              announcedAt: at,
              fingerprints: sent.get(worker.id) ?? []
            })
            yield* server.clearFaults
          })

        const exits = yield* runWorkers(
          Array.from({ length: workers }, (_, id) => ({
            id,
            store: { kind: "pg", url: inject("pgUrl"), prefix } as const,
            client: clientConfig(server),
            apiBase: server.endpoints.apiBase,
            users,
            refreshWindowMillis,
            lockLeaseMillis: leaseMillis,
            requestTimeoutMillis: 3_000,
            runMillis,
            pauseMillis: 100,
            announceRefresh: true
          })),
          killFirstRefresher
        )
        const kill = yield* Deferred.await(killed)

        const requests = yield* server.requests
        const grants = yield* server.grants
        const userOf = new Map<string, string>()
        const tokenOf = new Map<string, string>()
        for (const grant of grants) {
          for (const token of grant.refreshTokens) {
            userOf.set(fingerprint(token), grant.user)
            tokenOf.set(fingerprint(token), token)
          }
        }

        // The survivors ran to the end; the killed one died of the SIGKILL.
        const survivors = exits.filter((exit) => exit.id !== kill.worker)
        const victim = exits.find((exit) => exit.id === kill.worker)
        assert.strictEqual(victim?.signal, "SIGKILL")
        for (const exit of survivors) {
          assert.strictEqual(exit.code, 0, `worker ${exit.id} failed: ${exit.stderr}`)
          assert.isDefined(exit.report, `worker ${exit.id} sent no report`)
        }

        // For each refresh the killed worker had sent: did the server process it (and rotate)?
        const interrupted = kill.fingerprints.map((print) => {
          const user = userOf.get(print)
          const token = tokenOf.get(print)
          assert.isDefined(user, `the killed worker presented an unknown refresh token ${print}`)
          const presented = requests.filter((request) =>
            request.grantType === "refresh_token" && request.refreshTokenPresented === token
          )
          const killedRequest = presented.find((request) => request.at <= kill.announcedAt + 300)
          const rotated = killedRequest !== undefined && killedRequest.status === 200
          const next = presented.find((request) => request.at > kill.announcedAt + 300)
          return { user: user ?? print, rotated, next }
        })
        assert.isAtLeast(interrupted.length, 1, "the killed worker had sent no refresh")
        const lost = new Set(interrupted.filter((entry) => entry.rotated).map((entry) => entry.user))

        for (const entry of interrupted) {
          // The killed worker's lock died with its database session (S45): another worker took it at
          // once, long before the lease ran out, and refreshed with the token it found in the store.
          assert.isDefined(entry.next, `${entry.user}: no worker refreshed after the killed one`)
          if (entry.next === undefined) continue
          const waited = entry.next.at - kill.announcedAt
          assert.isAtMost(waited, 300 + 1_000, `${entry.user}: the others waited ${waited} ms for the lock`)
          assert.isBelow(waited, leaseMillis, `${entry.user}: the lock was held until its lease ran out`)
          if (entry.rotated) {
            // The server had rotated; the new token died with the worker, so the token in the store
            // is a rotated one, and the server refuses it as reuse.
            assert.strictEqual(entry.next.error, "invalid_grant", `${entry.user}: the rotated token was accepted`)
          } else {
            // The server never processed it: the token in the store is still good.
            assert.strictEqual(entry.next.status, 200, `${entry.user}: the refresh after the lease failed`)
          }
        }

        // Exactly the users whose rotated token was lost must sign in again; everyone else's calls all
        // succeeded, before and after the crash.
        for (const user of users) {
          const reports = survivors.flatMap((exit) => exit.report === undefined ? [] : [exit.report.users[user]])
          const errors = reports.flatMap((report) => Object.keys(report?.errors ?? {}))
          const ok = reports.reduce((sum, report) => sum + (report?.ok ?? 0), 0)
          if (lost.has(user)) {
            assert.deepStrictEqual(
              [...new Set(errors)],
              ["ReauthorizationRequired"],
              `${user}: the server rotated the token the killed worker never stored, so ${user} must sign in again`
            )
          } else {
            assert.deepStrictEqual(errors, [], `${user} had failed calls, though no token of ${user} was lost`)
            assert.isAtLeast(ok, 1, `${user}: no successful call after the crash`)
          }
        }
        const refused = requests.filter((request) => request.grantType === "refresh_token" && request.status !== 200)
        assert.deepStrictEqual(
          [...new Set(refused.map((request) => userOf.get(fingerprint(request.refreshTokenPresented ?? ""))))].sort(),
          [...lost].sort(),
          "a refresh of a user whose tokens were not lost was refused"
        )
      }).pipe(
        Effect.provide(
          strictFakeServer(lifetimeMillis)
        )
      ),
    90_000
  )
})
