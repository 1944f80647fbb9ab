/**
 * 2. 10 000 concurrent `get`s of one key whose token is due, over the fake authorization server with a
 * 20 ms delay on the token endpoint, against one `get` of another due key in the same run.
 */
import { AccessTokens, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { fixed, makeTokens, median, nanos, num, type Report } from "./harness.js"

const callers = 10_000
const delay = Duration.millis(20)
const warmupRounds = 2
const rounds = 7

const layer = AccessTokens.layer().pipe(
  Layer.provideMerge(Layer.merge(TokenStore.layerMemory, OAuthTest.layer()))
)

interface Round {
  readonly singleMs: number
  readonly concurrentMs: number
  readonly floorMs: number
  readonly awaitFloorMs: number
  readonly tokenRequests: number
  readonly distinctTokens: number
  readonly newToken: boolean
}

export const run: Effect.Effect<Report> = Effect.gen(function*() {
  const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
  const tokens = yield* AccessTokens.AccessTokens

  /** Saves tokens of a real grant of the fake that expire in 30 s, inside the 60 s refresh window. */
  const saveDue = (key: string) =>
    Effect.gen(function*() {
      const grant = yield* server.issueGrant({ user: key })
      const now = yield* Clock.currentTimeMillis
      // An hour-long token with 30 s left: due (60 s window) and below minValidity, so every caller waits.
      yield* tokens.save(key, makeTokens(now, 30_000, grant.refreshToken, grant.accessToken, 3_600_000))
      return grant.accessToken
    })

  const slowTokenEndpoint = server.inject(
    FakeAuthorizationServer.Fault.Delay({ endpoint: "token", grantType: "refresh_token", duration: delay, times: 1 })
  )

  const round = (index: number) =>
    Effect.gen(function*() {
      const single = `single-${index}`
      const shared = `shared-${index}`
      yield* saveDue(single)
      const old = yield* saveDue(shared)

      yield* server.clearLog
      yield* slowTokenEndpoint
      const [singleNs] = yield* nanos(tokens.get(single))

      yield* server.clearLog
      yield* slowTokenEndpoint
      const [concurrentNs, handedOut] = yield* nanos(
        Effect.forEach(Array.from({ length: callers }), () => tokens.get(shared), { concurrency: "unbounded" })
      )
      const counters = yield* server.counters
      // The floor of the harness: as many fibers forked the same way, each answering at once.
      const [floorNs] = yield* nanos(
        Effect.forEach(Array.from({ length: callers }), () => Effect.succeed(old), { concurrency: "unbounded" })
      )
      // The floor of waiting: as many fibers forked the same way, each awaiting one Deferred that is
      // completed after the same delay: what any design costs whose callers wait in their own fibers.
      const [awaitFloorNs] = yield* nanos(Effect.flatMap(Deferred.make<string>(), (deferred) =>
        Effect.zipRight(
          Effect.forkDaemon(Effect.zipRight(Effect.sleep(delay), Deferred.succeed(deferred, old))),
          Effect.forEach(Array.from({ length: callers }), () => Deferred.await(deferred), { concurrency: "unbounded" })
        )))
      const distinct = new Set(handedOut.map(Redacted.value))
      return {
        singleMs: singleNs / 1e6,
        concurrentMs: concurrentNs / 1e6,
        floorMs: floorNs / 1e6,
        awaitFloorMs: awaitFloorNs / 1e6,
        tokenRequests: counters.token,
        distinctTokens: distinct.size,
        newToken: !distinct.has(old)
      } satisfies Round
    })

  for (let index = 0; index < warmupRounds; index++) yield* round(-1 - index)
  const results: Array<Round> = []
  for (let index = 0; index < rounds; index++) results.push(yield* round(index))

  const single = median(results.map((r) => r.singleMs))
  const concurrent = median(results.map((r) => r.concurrentMs))
  const difference = median(results.map((r) => r.concurrentMs - r.singleMs))
  const floor = median(results.map((r) => r.floorMs))
  const beyondFloor = median(results.map((r) => r.concurrentMs - r.singleMs - r.floorMs))
  const awaitFloor = median(results.map((r) => r.awaitFloorMs - r.singleMs - r.floorMs))
  const beyondAwait = median(results.map((r) => r.concurrentMs - r.awaitFloorMs))
  const correct = results.every((r) => r.tokenRequests === 1 && r.distinctTokens === 1 && r.newToken)
  return {
    rows: [
      {
        name: `${num(callers)} concurrent gets: token requests`,
        result: correct
          ? `1 per round (${rounds} rounds)`
          : results.map((r) => `${r.tokenRequests}/${r.distinctTokens}`).join(" "),
        target: "1",
        ok: correct
      },
      { name: `${num(callers)} concurrent gets: wall time`, result: `${fixed(concurrent, 2)} ms` },
      {
        name: `one refresh round trip (1 get, ${Duration.toMillis(delay)} ms delay)`,
        result: `${fixed(single, 2)} ms`
      },
      {
        name: "concurrent − single",
        result: `${fixed(difference, 2)} ms`,
        target: "≤ 5 ms",
        ok: difference <= 5
      },
      { name: `floor: ${num(callers)} forked Effect.succeed`, result: `${fixed(floor, 2)} ms` },
      {
        name: "concurrent − single − floor",
        result: `${fixed(beyondFloor, 2)} ms (${fixed(beyondFloor * 1000 / callers, 1)} µs/caller)`,
        target: "≤ 5 µs/caller",
        ok: beyondFloor * 1000 / callers <= 5
      },
      {
        name: `floor: ${num(callers)} awaiting a Deferred − single − fork floor`,
        result: `${fixed(awaitFloor, 2)} ms (${fixed(awaitFloor * 1000 / callers, 1)} µs/caller)`
      },
      {
        name: "concurrent − awaiting floor",
        result: `${fixed(beyondAwait, 2)} ms (${fixed(beyondAwait * 1000 / callers, 1)} µs/caller)`
      }
    ],
    failure: correct ?
      undefined :
      `10 000 concurrent gets: token requests / distinct tokens per round: ${
        results.map((r) => `${r.tokenRequests}/${r.distinctTokens}${r.newToken ? "" : " (old token)"}`).join(", ")
      } (each must be 1/1, new token)`
  }
}).pipe(Effect.provide(layer), Effect.orDie)
