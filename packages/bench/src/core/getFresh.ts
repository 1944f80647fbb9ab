/**
 * 1. `AccessTokens.get` on a fresh token (answered from memory) against `Effect.succeed` of the same
 * value, both run N times in one effect by the same loop.
 */
import { AccessTokens, TokenStore } from "@effect-oauth/core"
import { OAuthTest } from "@effect-oauth/testing"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { fixed, loop, makeTokens, median, nanos, num, type Report } from "./harness.js"

const iterations = 500_000
const warmupRounds = 3
const rounds = 9

const layer = AccessTokens.layer().pipe(
  Layer.provide(Layer.merge(TokenStore.layerMemory, OAuthTest.layer()))
)

export const run: Effect.Effect<Report> = Effect.gen(function*() {
  const tokens = yield* AccessTokens.AccessTokens
  const now = yield* Clock.currentTimeMillis
  yield* tokens.save("fresh", makeTokens(now, Duration.toMillis(Duration.hours(1))))
  const cached = yield* tokens.get("fresh")

  const get = () => tokens.get("fresh")
  const baseline = () => Effect.succeed(cached)
  const perOp = (body: typeof get) => Effect.map(nanos(loop(iterations, body)), ([ns]) => ns / iterations)

  for (let round = 0; round < warmupRounds; round++) {
    yield* perOp(get)
    yield* perOp(baseline)
  }
  const getNs: Array<number> = []
  const baselineNs: Array<number> = []
  for (let round = 0; round < rounds; round++) {
    // Alternate the order so that drift (GC, JIT, a noisy neighbour) falls on both sides alike.
    if (round % 2 === 0) {
      getNs.push(yield* perOp(get))
      baselineNs.push(yield* perOp(baseline))
    } else {
      baselineNs.push(yield* perOp(baseline))
      getNs.push(yield* perOp(get))
    }
  }
  const getMedian = median(getNs)
  const baselineMedian = median(baselineNs)
  const ratio = getMedian / baselineMedian
  return {
    rows: [
      { name: "get (fresh token)", result: `${num(getMedian)} ns/op`, target: "< 2000 ns", ok: getMedian < 2000 },
      { name: "Effect.succeed baseline", result: `${num(baselineMedian)} ns/op` },
      { name: "get / baseline", result: `${fixed(ratio, 1)}×`, target: "≤ 10×", ok: ratio <= 10 }
    ]
  }
}).pipe(Effect.provide(layer), Effect.orDie)
