import { JwksCache } from "@effect-oauth/oidc"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Ref from "effect/Ref"
import * as TestClock from "effect/TestClock"
import * as Jose from "jose"

const uri = "https://op.example.test/jwks"

type Answer = "keys" | "hang" | "hang-body" | "huge" | "not-a-set" | "500"

/** An `HttpClient` that answers the JWKS request as told, counting requests. */
const scripted = (answers: Ref.Ref<ReadonlyArray<Answer>>, count: Ref.Ref<number>, jwks: Jose.JSONWebKeySet) =>
  HttpClient.make((request) =>
    Effect.gen(function*() {
      yield* Ref.update(count, (n) => n + 1)
      const answer = yield* Ref.modify(answers, ([first, ...rest]) => [first ?? "keys", rest])
      const respond = (body: BodyInit | null, status = 200) =>
        HttpClientResponse.fromWeb(
          request,
          new Response(body, { status, headers: { "content-type": "application/json" } })
        )
      switch (answer) {
        case "keys":
          return respond(JSON.stringify(jwks))
        case "hang":
          return yield* Effect.never
        case "hang-body":
          // headers and part of the body arrive, the rest never does
          return respond(
            new ReadableStream({
              start: (controller) => controller.enqueue(new TextEncoder().encode("{\"keys\":["))
            })
          )
        case "huge":
          return respond(JSON.stringify({ keys: [], pad: "x".repeat(2 * 1024 * 1024) }))
        case "not-a-set":
          return respond(JSON.stringify({ keys: "none" }))
        case "500":
          return respond("oops", 500)
      }
    })
  )

const setup = (answers: ReadonlyArray<Answer>, options?: Omit<JwksCache.Options, "uri">) =>
  Effect.gen(function*() {
    const { publicKey } = yield* Effect.promise(() => Jose.generateKeyPair("ES256"))
    const jwk = yield* Effect.promise(() => Jose.exportJWK(publicKey))
    const script = yield* Ref.make(answers)
    const count = yield* Ref.make(0)
    const cache = yield* JwksCache.make({ uri, timeout: Duration.seconds(5), ...options }).pipe(
      Effect.provideService(HttpClient.HttpClient, scripted(script, count, { keys: [{ ...jwk, kid: "k1" }] }))
    )
    return { cache, count: Ref.get(count) }
  })

describe("JwksCache", () => {
  it.effect("a JWKS request that never answers fails at its deadline (S32)", () =>
    Effect.gen(function*() {
      const { cache } = yield* setup(["hang"])
      const fiber = yield* Effect.fork(Effect.flip(cache.get))
      yield* TestClock.adjust(Duration.seconds(5))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
    }))

  it.effect("the deadline covers the whole body, not only the headers (S32)", () =>
    Effect.gen(function*() {
      const { cache } = yield* setup(["hang-body"])
      const fiber = yield* Effect.fork(Effect.flip(cache.get))
      yield* TestClock.adjust(Duration.seconds(5))
      const error = yield* Fiber.join(fiber)
      assert.strictEqual(error.reason, "Timeout")
    }))

  it.effect("a key set over the size limit, a document that is not a key set and an error status are typed errors", () =>
    Effect.gen(function*() {
      for (
        const [answer, reason] of [["huge", "TooLarge"], ["not-a-set", "InvalidKeySet"], ["500", "Status"]] as const
      ) {
        const { cache } = yield* setup([answer])
        const error = yield* Effect.flip(cache.get)
        assert.strictEqual(error.reason, reason, answer)
        assert.include(error.message, uri)
      }
    }))

  it.effect("after a failed fetch, no other is sent before the cooldown, however many callers ask", () =>
    Effect.gen(function*() {
      const { cache, count } = yield* setup(["500", "keys"], { cooldown: Duration.seconds(30) })
      const errors = yield* Effect.all(Array.from({ length: 20 }, () => Effect.flip(cache.get)), {
        concurrency: "unbounded"
      })
      assert.isTrue(errors.every((error) => error.reason === "Status"))
      assert.strictEqual(yield* count, 1)
      yield* TestClock.adjust(Duration.seconds(31))
      yield* cache.get
      assert.strictEqual(yield* count, 2)
    }))

  it.effect("one fetch is shared by concurrent callers, and the set is kept", () =>
    Effect.gen(function*() {
      const { cache, count } = yield* setup([])
      const sets = yield* Effect.all(Array.from({ length: 20 }, () => cache.get), { concurrency: "unbounded" })
      assert.isTrue(sets.every((set) => set === sets[0]))
      yield* cache.get
      assert.strictEqual(yield* count, 1)
    }))

  it.effect("refresh fetches once per cooldown, and concurrent refreshes share one fetch", () =>
    Effect.gen(function*() {
      const { cache, count } = yield* setup([], { cooldown: Duration.seconds(30) })
      const first = yield* cache.get
      yield* TestClock.adjust(Duration.seconds(31))
      const fresh = yield* Effect.all(Array.from({ length: 20 }, () => cache.refresh(first)), {
        concurrency: "unbounded"
      })
      assert.strictEqual(yield* count, 2)
      assert.isTrue(fresh.every((set) => set === fresh[0] && set !== first))
      // within the cooldown a refresh is not sent, even for the newest set
      yield* cache.refresh(fresh[0] ?? first)
      assert.strictEqual(yield* count, 2)
    }))

  it.effect("a set older than maxAge is fetched again, and serves on when that fails", () =>
    Effect.gen(function*() {
      const { cache, count } = yield* setup(["keys", "500"], { maxAge: Duration.minutes(10) })
      const first = yield* cache.get
      yield* TestClock.adjust(Duration.minutes(11))
      const again = yield* cache.get
      assert.strictEqual(again, first)
      assert.strictEqual(yield* count, 2)
    }))
})
