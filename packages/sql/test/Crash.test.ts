/**
 * SPEC S20, S21 and S44 with a real crash: a worker process is killed with SIGKILL while it holds a
 * key's lock in the middle of a refresh (the fake server holds its token responses for a while, so
 * the refresh request is surely in flight). The killed worker's store lock dies with its database
 * session (S45; the conformance suite checks that it is free within a second).
 *
 * Nobody can know whether the server processed the request the killed worker never got an answer
 * to, so its refresh token is possibly spent (S44): the worker marked it in the store before sending
 * it, no process sends it again (a second presentation would make a rotating server revoke the
 * grant), and exactly that user gets `ReauthorizationRequired` once its access token expired. The
 * other users are not touched. */
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
    "SIGKILL while holding the lock mid-refresh: the killed refresh's token is never sent again, exactly that user gets ReauthorizationRequired, no other user is touched (S20, S21, S44)",
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
        const lost = new Set(interrupted.map((entry) => entry.user))

        for (const entry of interrupted) {
          // Possibly spent (S44): no process presented the killed worker's refresh token again.
          assert.isUndefined(
            entry.next,
            `${entry.user}: the refresh token of the killed refresh was sent again (rotated: ${entry.rotated})`
          )
        }

        // Exactly the users of the killed refreshes must sign in again; everyone else's calls all
        // succeeded, before and after the crash.
        for (const user of users) {
          const reports = survivors.flatMap((exit) => exit.report === undefined ? [] : [exit.report.users[user]])
          const errors = reports.flatMap((report) => Object.keys(report?.errors ?? {}))
          const ok = reports.reduce((sum, report) => sum + (report?.ok ?? 0), 0)
          if (lost.has(user)) {
            assert.deepStrictEqual(
              [...new Set(errors)],
              ["ReauthorizationRequired"],
              `${user}: the killed worker's refresh token is possibly spent, so ${user} must sign in again`
            )
          } else {
            assert.deepStrictEqual(errors, [], `${user} had failed calls, though no refresh of ${user} was killed`)
            assert.isAtLeast(ok, 1, `${user}: no successful call after the crash`)
          }
        }
        // No refresh token was presented twice, so the server refused none and revoked no grant.
        const refused = requests.filter((request) => request.grantType === "refresh_token" && request.status !== 200)
        assert.deepStrictEqual(
          refused.map((request) => `${request.status} ${request.error}`),
          [],
          "a refresh was refused"
        )
        assert.isTrue(grants.every((grant) => !grant.revoked), "a grant was revoked")
      }).pipe(
        Effect.provide(
          strictFakeServer(lifetimeMillis)
        )
      ),
    90_000
  )
})
