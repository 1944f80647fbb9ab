/**
 * 5. "Give me a valid access token" on a fresh token, each library in its own idiom, side by side in
 * one run: effect-oauth's `get` inside an Effect program and through the Promise supplier,
 * google-auth-library 10's `getAccessToken()` (cached credentials) and simple-oauth2 5's `expired()`
 * plus the token, against the floor of awaiting a cached string.
 */
import { AccessTokens, TokenStore } from "@effect-oauth/core"
import { OAuthTest } from "@effect-oauth/testing"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { OAuth2Client } from "google-auth-library"
import { AuthorizationCode } from "simple-oauth2"
import { fixed, loop, makeTokens, median, nanos, num, type Report } from "./harness.js"

const iterations = 300_000
const warmupRounds = 3
const rounds = 9

const layer = AccessTokens.layer().pipe(
  Layer.provide(Layer.merge(TokenStore.layerMemory, OAuthTest.layer()))
)

/** ns per call of `n` awaited calls of `f`. */
const awaited = (f: () => unknown) =>
  Effect.promise(async () => {
    const start = process.hrtime.bigint()
    for (let i = 0; i < iterations; i++) await f()
    return Number(process.hrtime.bigint() - start) / iterations
  })

export const run: Effect.Effect<Report> = Effect.gen(function*() {
  const tokens = yield* AccessTokens.AccessTokens
  const now = yield* Clock.currentTimeMillis
  const set = makeTokens(now, Duration.toMillis(Duration.hours(1)))
  yield* tokens.save("fresh", set)
  const cached = yield* tokens.get("fresh")
  const supply = yield* AccessTokens.supplier("fresh")
  const accessToken = yield* Effect.promise(() => Promise.resolve(supply()))

  const google = new OAuth2Client({ clientId: "client", clientSecret: "secret" })
  google.setCredentials({ access_token: accessToken, refresh_token: "rt", expiry_date: now + 3_600_000 })
  const simple = new AuthorizationCode({
    client: { id: "client", secret: "secret" },
    auth: { tokenHost: "https://auth.example.com" }
  })
  const simpleToken = simple.createToken({ access_token: accessToken, refresh_token: "rt", expires_in: 3600 })
  const simpleGet = () =>
    simpleToken.expired(60) ? Promise.reject(new Error("expired")) : simpleToken.token.access_token

  const answer = Effect.succeed(cached)
  const clockThenAnswer = Effect.withFiberRuntime((fiber) =>
    Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis() > 0 ? answer : Effect.die("clock")
  )
  const inEffect = (body: () => Effect.Effect<unknown, unknown>) =>
    Effect.map(nanos(loop(iterations, body)), ([ns]) => ns / iterations)
  const variants: ReadonlyArray<readonly [string, Effect.Effect<number, unknown>]> = [
    ["effect-oauth get, in an Effect program", inEffect(() => tokens.get("fresh"))],
    ["Effect.succeed, in the same loop", inEffect(() => Effect.succeed(cached))],
    ["effect-oauth supplier, awaited", awaited(supply)],
    ["google-auth-library 10 getAccessToken()", awaited(() => google.getAccessToken())],
    ["simple-oauth2 5 expired() + token, awaited", awaited(simpleGet)],
    ["await of a cached string (floor)", awaited(() => accessToken)],
    // The least an Effect answer costs that reads the fiber's own Clock (what lets TestClock drive
    // expiry): one step that reads it, then a prebuilt answer.
    ["floor: read the fiber's Clock, then a prebuilt answer", inEffect(() => clockThenAnswer)]
  ]
  for (let round = 0; round < warmupRounds; round++) {
    for (const [, measure] of variants) yield* measure
  }
  const ns: Array<Array<number>> = variants.map(() => [])
  for (let round = 0; round < rounds; round++) {
    // Rotate the order so that drift falls on every variant alike.
    for (let k = 0; k < variants.length; k++) {
      const index = (k + round) % variants.length
      const variant = variants[index]
      if (variant !== undefined) ns[index]?.push(yield* variant[1])
    }
  }
  const medians = ns.map(median)
  const [get = NaN, succeed = NaN, supplier = NaN, google10 = NaN, simple5 = NaN, , clockFloor = NaN] = medians
  return {
    rows: [
      ...variants.map(([name], index) => ({ name, result: `${num(medians[index] ?? NaN)} ns/op` })),
      {
        name: "get / google-auth-library",
        result: `${fixed(get / google10, 2)}×`,
        target: "≤ 1×",
        ok: get <= google10
      },
      { name: "get / Effect.succeed", result: `${fixed(get / succeed, 2)}×`, target: "≤ 3×", ok: get <= 3 * succeed },
      {
        name: "supplier / google-auth-library",
        result: `${fixed(supplier / google10, 2)}×`,
        target: "≤ 1×",
        ok: supplier <= google10
      },
      { name: "get / simple-oauth2", result: `${fixed(get / simple5, 2)}×` },
      { name: "floor (Clock read + answer) / google-auth-library", result: `${fixed(clockFloor / google10, 2)}×` },
      { name: "get / floor (Clock read + answer)", result: `${fixed(get / clockFloor, 2)}×` }
    ]
  }
}).pipe(Effect.provide(layer), Effect.orDie)
