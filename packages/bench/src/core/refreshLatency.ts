/**
 * 6. Callers' latency across a refresh: tokens due but valid (expiring in 50 s, inside the 60 s window
 * and above `minValidity`), a token endpoint answering in 200 ms, one caller per millisecond for
 * 600 ms; with background refresh (the default) and with `refreshMode: "blocking"`, in one run.
 * Callers arrive on a fixed schedule (caller i at start + i ms); each one's latency is measured from
 * its own start and, to count a blocked event loop too, from its scheduled arrival.
 */
import { AccessTokens, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import { fixed, makeTokens, nanos, type Report } from "./harness.js"

const callers = 600
const delay = Duration.millis(200)

const measure = (mode: "background" | "blocking") =>
  Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const tokens = yield* AccessTokens.AccessTokens
    const grant = yield* server.issueGrant({ user: "ann" })
    const now = yield* Clock.currentTimeMillis
    yield* tokens.save("ann", makeTokens(now, 50_000, grant.refreshToken, grant.accessToken, 3_600_000))
    yield* server.clearLog
    yield* server.inject(
      FakeAuthorizationServer.Fault.Delay({ endpoint: "token", grantType: "refresh_token", duration: delay, times: 1 })
    )
    const fibers: Array<Fiber.RuntimeFiber<readonly [number, number], unknown>> = []
    const start = performance.now()
    for (let i = 0; i < callers; i++) {
      const arrival = start + i
      const early = arrival - performance.now()
      if (early > 0) yield* Effect.sleep(Duration.millis(early))
      fibers.push(
        yield* Effect.fork(
          Effect.map(nanos(tokens.get("ann")), ([ns]) => [ns / 1e6, performance.now() - arrival] as const)
        )
      )
    }
    const results = yield* Fiber.joinAll(fibers)
    const sorted = (values: ReadonlyArray<number>) => [...values].sort((a, b) => a - b)
    const latencies = sorted(results.map(([own]) => own))
    const fromArrival = sorted(results.map(([, late]) => late))
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
    const counters = yield* server.counters
    return {
      p50: at(0.5),
      p99: at(0.99),
      max: latencies.at(-1) ?? NaN,
      waited: latencies.filter((ms) => ms > 5).length,
      arrivalMax: fromArrival.at(-1) ?? NaN,
      arrivalWaited: fromArrival.filter((ms) => ms > 5).length,
      requests: counters.refreshToken,
      reused: counters.reusedRefreshTokens
    }
  }).pipe(
    Effect.provide(
      AccessTokens.layer({ refreshMode: mode }).pipe(
        Layer.provideMerge(Layer.merge(TokenStore.layerMemory, OAuthTest.layer()))
      )
    ),
    Effect.orDie
  )

export const run: Effect.Effect<Report> = Effect.gen(function*() {
  const blocking = yield* measure("blocking")
  const background = yield* measure("background")
  const row = (label: string, r: typeof background, target: boolean) => [
    {
      name: `${label}: p50 / p99 / max`,
      result: `${fixed(r.p50, 2)} / ${fixed(r.p99, 2)} / ${fixed(r.max, 1)} ms`,
      ...(target ? { target: "max ≤ 5 ms", ok: r.max <= 5 } : {})
    },
    {
      name: `${label}: waited > 5 ms`,
      result: `${r.waited} of ${callers}`,
      ...(target ? { target: "0", ok: r.waited === 0 } : {})
    },
    {
      name: `${label}, from arrival: max, > 5 ms`,
      result: `${fixed(r.arrivalMax, 1)} ms, ${r.arrivalWaited} of ${callers}`
    }
  ]
  const correct = [blocking, background].every((r) => r.requests === 1 && r.reused === 0)
  return {
    rows: [
      ...row("across a refresh, background", background, true),
      ...row("across a refresh, blocking", blocking, false),
      {
        name: "across a refresh: token requests",
        result: `${background.requests} (background), ${blocking.requests} (blocking)`,
        target: "1",
        ok: correct
      }
    ],
    failure: correct ? undefined : "a refresh across 600 callers made more than one token request or reused a token"
  }
})
