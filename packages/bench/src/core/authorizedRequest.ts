/**
 * 3. A request through `OAuthHttpClient` against the same request through the plain live `HttpClient`
 * (undici), both to one node:http server on 127.0.0.1 started here, sequentially and 32 at a time.
 */
import { AccessTokens, OAuthHttpClient, TokenStore } from "@effect-oauth/core"
import { OAuthTest } from "@effect-oauth/testing"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import { fixed, loop, makeTokens, median, nanos, num, type Report } from "./harness.js"

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

// Many short rounds rather than a few long ones: on a shared machine a burst of noise then spoils a
// round or two, which the median ignores.
const sequentialRequests = 1_000
const concurrentRequests = 2_000
const concurrency = 32
const warmupRounds = 2
const rounds = 15

export const run: Effect.Effect<Report> = Effect.gen(function*() {
  const server = yield* loopback
  const tokens = yield* AccessTokens.AccessTokens
  const now = yield* Clock.currentTimeMillis
  yield* tokens.save("api", makeTokens(now, Duration.toMillis(Duration.hours(1))))

  const plainClient = yield* HttpClient.HttpClient
  const authorizedClient = OAuthHttpClient.authorize(plainClient, tokens, "api")
  type Request = () => Effect.Effect<unknown, unknown>
  const plain: Request = () => Effect.flatMap(plainClient.get(server.url), (response) => response.json)
  const withBearer = HttpClientRequest.bearerToken(HttpClientRequest.get(server.url), yield* tokens.get("api"))
  const plainBearer: Request = () => Effect.flatMap(plainClient.execute(withBearer), (response) => response.json)
  const authorized: Request = () => Effect.flatMap(authorizedClient.get(server.url), (response) => response.json)
  // The floor of any client that adds a token: the plain client decorated once with a fixed Bearer.
  const decoratedClient = HttpClient.mapRequest(plainClient, HttpClientRequest.bearerToken(yield* tokens.get("api")))
  const decorated: Request = () => Effect.flatMap(decoratedClient.get(server.url), (response) => response.json)

  const sequential = (request: Request) =>
    Effect.map(nanos(loop(sequentialRequests, request)), ([ns]) => ns / sequentialRequests / 1000)
  const concurrent = (request: Request) =>
    Effect.map(
      nanos(Effect.forEach(Array.from({ length: concurrentRequests }), request, { concurrency, discard: true })),
      ([ns]) => ns / concurrentRequests / 1000
    )

  /** The variants in a rotating order, forwards then backwards, so that drift falls on each alike. */
  const order = (round: number) => {
    const rotated = [0, 1, 2, 3].map((index) => (index + round) % 4)
    return Math.floor(round / 4) % 2 === 0 ? rotated : rotated.reverse()
  }
  /** Median µs per request of each variant. */
  const compare = (measure: typeof sequential) =>
    Effect.gen(function*() {
      for (let round = 0; round < warmupRounds; round++) {
        yield* measure(plain)
        yield* measure(plainBearer)
        yield* measure(authorized)
        yield* measure(decorated)
      }
      const variants = [plain, plainBearer, authorized, decorated]
      const us: Array<Array<number>> = [[], [], [], []]
      for (let round = 0; round < rounds; round++) {
        for (const index of order(round)) us[index]?.push(yield* measure(variants[index] ?? plain))
      }
      const at = (index: number) => median(us[index] ?? [])
      return { plain: at(0), plainBearer: at(1), authorized: at(2), decorated: at(3) }
    })

  const seq = yield* compare(sequential)
  const par = yield* compare(concurrent)
  /** The authorized, the fixed-Bearer and the decorated requests carry the header. */
  const bearerSent = 3 * (warmupRounds + rounds) * (sequentialRequests + concurrentRequests)
  const perRequest = (us: number) => `${fixed(us, 1)} µs/req (${num(1e6 / us)}/s)`
  const rows = (
    label: string,
    result: {
      readonly plain: number
      readonly plainBearer: number
      readonly authorized: number
      readonly decorated: number
    }
  ) => {
    const ratio = result.authorized / result.plain
    return [
      { name: `plain HttpClient, ${label}`, result: perRequest(result.plain) },
      { name: `plain + fixed Bearer header, ${label}`, result: perRequest(result.plainBearer) },
      { name: `plain + Bearer by mapRequest, ${label}`, result: perRequest(result.decorated) },
      { name: `OAuthHttpClient, ${label}`, result: perRequest(result.authorized) },
      { name: `authorized / plain, ${label}`, result: `${fixed(ratio, 3)}×`, target: "≤ 1.05×", ok: ratio <= 1.05 },
      {
        name: `authorized / plain + Bearer, ${label}`,
        result: `${fixed(result.authorized / result.plainBearer, 3)}×`,
        target: "≤ 1.02×",
        ok: result.authorized / result.plainBearer <= 1.02
      },
      {
        name: `floor: mapRequest / plain + Bearer, ${label}`,
        result: `${fixed(result.decorated / result.plainBearer, 3)}×`
      },
      { name: `authorized / mapRequest, ${label}`, result: `${fixed(result.authorized / result.decorated, 3)}×` }
    ]
  }
  return {
    rows: [
      ...rows("sequential", seq),
      ...rows(`${concurrency} concurrent`, par),
      {
        name: "requests seen with a Bearer (server side)",
        result: `${num(server.stats.bearer)} of ${num(bearerSent)}`,
        target: "all",
        ok: server.stats.bearer === bearerSent
      }
    ]
  }
}).pipe(Effect.scoped, Effect.provide(layer), Effect.orDie)
