/**
 * 3. A request through `OAuthHttpClient` against the same request through the plain live `HttpClient`
 * (undici), both to one node:http server on 127.0.0.1 started here, sequentially and 32 at a time, beside
 * the floors of a client that adds a token by decoration.
 */
import { AccessTokens, OAuthHttpClient, TokenStore } from "@effect-oauth/core"
import { OAuthTest } from "@effect-oauth/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Http from "node:http"
import { fixed, makeTokens, median, nanos, num, type Report } from "./harness.js"

const body = JSON.stringify({ id: "msg_01", status: "complete", items: [1, 2, 3] })

interface Loopback {
  readonly url: string
  /** Requests answered, and those of them that carried `Authorization: Bearer …`. */
  readonly stats: { requests: number; bearer: number }
}

/** A node:http server on a random loopback port that answers every request with a small JSON body. */
const loopback = Effect.acquireRelease(
  Effect.async<Loopback & { readonly server: Http.Server }>((resume) => {
    const stats = { requests: 0, bearer: 0 }
    const server = Http.createServer((request, response) => {
      stats.requests++
      if (request.headers.authorization?.startsWith("Bearer ") === true) stats.bearer++
      response.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
      response.end(body)
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      resume(Effect.succeed({ url: `http://127.0.0.1:${port}/api/v1/status`, stats, server }))
    })
  }),
  ({ server }) =>
    Effect.async<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

const layer = Layer.merge(
  AccessTokens.layer().pipe(Layer.provide(Layer.merge(TokenStore.layerMemory, OAuthTest.layer()))),
  NodeHttpClient.layerUndici
)

// Sequential: every round sends one request of each variant, in an order that rotates from round to
// round, and times each request on its own; the variants see the same machine at the same moments.
const sequentialRounds = 6_000
// In memory the same, with more rounds: each request is a few tens of µs of the process's own work.
const memoryRounds = 20_000
// Concurrent: blocks of requests of one variant, 32 at a time, the variants' blocks in rotating order.
const concurrency = 32
const blockRequests = 640
const concurrentRounds = 30
const concurrentWarmup = 4

/** The mean of the values without the slowest 5 % (GC pauses and the machine's noise). */
const trimmedMean = (values: ReadonlyArray<number>): number => {
  const kept = [...values].sort((a, b) => a - b).slice(0, Math.max(1, Math.floor(values.length * 0.95)))
  return kept.reduce((sum, value) => sum + value, 0) / kept.length
}

const names = ["plain", "plainBearer", "again", "decorated", "checked", "authorized"] as const
type Name = typeof names[number]

/** `names` rotated by `round`, and reversed every other round. */
const order = (round: number): ReadonlyArray<Name> => {
  const rotated = names.map((_, index) => names[(index + round) % names.length] ?? "plain")
  return round % 2 === 0 ? rotated : rotated.reverse()
}

/**
 * The variants over `client`, all requesting `url`. The `checked` client counts 401s in `unauthorized`
 * (none are expected).
 */
const makeVariants = (
  client: HttpClient.HttpClient,
  tokens: AccessTokens.Service,
  token: Redacted.Redacted<string>,
  url: string,
  unauthorized: { count: number }
): Record<Name, () => Effect.Effect<unknown, unknown>> => {
  const authorizedClient = OAuthHttpClient.authorize(client, tokens, "api")
  // The floor of any client that adds a token: the client decorated once with a fixed Bearer, and
  // the same with the one look at the status that a retry after a 401 needs (S25).
  const decoratedClient = HttpClient.mapRequest(client, HttpClientRequest.bearerToken(token))
  const checkedClient = HttpClient.transformResponse(
    decoratedClient,
    (response) =>
      Effect.flatMap(response, (answer) => {
        if (answer.status === 401) unauthorized.count++
        return Effect.succeed(answer)
      })
  )
  const withBearer = HttpClientRequest.bearerToken(HttpClientRequest.get(url), token)
  return {
    plain: () => Effect.flatMap(client.get(url), (response) => response.json),
    plainBearer: () => Effect.flatMap(client.execute(withBearer), (response) => response.json),
    // The same request as `plainBearer`, from code of its own: how far apart two equal variants come out.
    again: () => Effect.flatMap(client.execute(withBearer), (response) => response.json),
    decorated: () => Effect.flatMap(decoratedClient.get(url), (response) => response.json),
    checked: () => Effect.flatMap(checkedClient.get(url), (response) => response.json),
    authorized: () => Effect.flatMap(authorizedClient.get(url), (response) => response.json)
  }
}

const samples = (): Record<Name, Array<number>> => ({
  plain: [],
  plainBearer: [],
  again: [],
  decorated: [],
  checked: [],
  authorized: []
})

/** Trimmed-mean µs per request of each variant, each request timed alone. */
const sequential = (variants: Record<Name, () => Effect.Effect<unknown, unknown>>, rounds: number) =>
  Effect.gen(function*() {
    const us = samples()
    const warmup = Math.floor(rounds / 10)
    for (let round = 0; round < warmup + rounds; round++) {
      for (const name of order(round)) {
        const [ns] = yield* nanos(variants[name]())
        if (round >= warmup) us[name].push(ns / 1000)
      }
    }
    return mapValues(us, trimmedMean)
  })

/** Median µs per request of each variant over blocks of `blockRequests`, `concurrency` at a time. */
const concurrent = (variants: Record<Name, () => Effect.Effect<unknown, unknown>>) =>
  Effect.gen(function*() {
    const us = samples()
    for (let round = 0; round < concurrentWarmup + concurrentRounds; round++) {
      for (const name of order(round)) {
        const [ns] = yield* nanos(
          Effect.forEach(Array.from({ length: blockRequests }), variants[name], { concurrency, discard: true })
        )
        if (round >= concurrentWarmup) us[name].push(ns / blockRequests / 1000)
      }
    }
    return mapValues(us, median)
  })

/** A client that answers every request at once, in memory, with the same JSON body: no network at all. */
const inMemory = HttpClient.make((request) =>
  Effect.succeed(
    HttpClientResponse.fromWeb(request, new Response(body, { headers: { "content-type": "application/json" } }))
  )
)

export const run: Effect.Effect<Report> = Effect.gen(function*() {
  const server = yield* loopback
  const tokens = yield* AccessTokens.AccessTokens
  const now = yield* Clock.currentTimeMillis
  yield* tokens.save("api", makeTokens(now, Duration.toMillis(Duration.hours(1))))
  const token = yield* tokens.get("api")
  const unauthorized = { count: 0 }
  const loopbackVariants = makeVariants(yield* HttpClient.HttpClient, tokens, token, server.url, unauthorized)

  const seq = yield* sequential(loopbackVariants, sequentialRounds)
  const par = yield* concurrent(loopbackVariants)
  const memory = yield* sequential(makeVariants(inMemory, tokens, token, server.url, unauthorized), memoryRounds)
  /** Every loopback variant but `plain` carries the header. */
  const bearerSent = (names.length - 1) *
    (Math.floor(sequentialRounds / 10) + sequentialRounds + (concurrentWarmup + concurrentRounds) * blockRequests)
  const perRequest = (us: number) => `${fixed(us, 1)} µs/req (${num(1e6 / us)}/s)`
  const ratio = (a: number, b: number) => `${fixed(a / b, 3)}×`
  const floors = (label: string, result: Record<Name, number>) => [
    { name: `resolution: plain + Bearer / itself (A/A), ${label}`, result: ratio(result.again, result.plainBearer) },
    { name: `floor: mapRequest / plain + Bearer, ${label}`, result: ratio(result.decorated, result.plainBearer) },
    {
      name: `floor: + status check / plain + Bearer, ${label}`,
      result: ratio(result.checked, result.plainBearer)
    },
    { name: `authorized / mapRequest + check, ${label}`, result: ratio(result.authorized, result.checked) }
  ]
  const rows = (label: string, result: Record<Name, number>) => [
    { name: `plain HttpClient, ${label}`, result: perRequest(result.plain) },
    { name: `plain + fixed Bearer header, ${label}`, result: perRequest(result.plainBearer) },
    { name: `plain + Bearer by mapRequest, ${label}`, result: perRequest(result.decorated) },
    { name: `mapRequest + status check, ${label}`, result: perRequest(result.checked) },
    { name: `OAuthHttpClient, ${label}`, result: perRequest(result.authorized) },
    {
      name: `authorized / plain, ${label}`,
      result: ratio(result.authorized, result.plain),
      target: "≤ 1.05×",
      ok: result.authorized / result.plain <= 1.05
    },
    {
      name: `authorized / plain + Bearer, ${label}`,
      result: ratio(result.authorized, result.plainBearer),
      target: "≤ 1.02×",
      ok: result.authorized / result.plainBearer <= 1.02
    },
    ...floors(label, result)
  ]
  const cpu = (us: number) => `${fixed(us - memory.plainBearer, 2)} µs`
  return {
    rows: [
      ...rows("sequential", seq),
      ...rows(`${concurrency} concurrent`, par),
      { name: "in memory: plain + fixed Bearer header", result: perRequest(memory.plainBearer) },
      { name: "in memory: + mapRequest, above it", result: cpu(memory.decorated) },
      { name: "in memory: + mapRequest + status check, above it", result: cpu(memory.checked) },
      { name: "in memory: OAuthHttpClient, above it", result: cpu(memory.authorized) },
      { name: "in memory: resolution (A/A), above it", result: cpu(memory.again) },
      {
        name: "requests seen with a Bearer (server side)",
        result: `${num(server.stats.bearer)} of ${num(bearerSent)}`,
        target: "all",
        ok: server.stats.bearer === bearerSent && unauthorized.count === 0
      }
    ]
  }
}).pipe(Effect.scoped, Effect.provide(layer), Effect.orDie)

const mapValues = <K extends string, A, B>(record: Record<K, A>, f: (a: A) => B): Record<K, B> => {
  const out = {} as Record<K, B>
  for (const key in record) out[key] = f(record[key])
  return out
}
