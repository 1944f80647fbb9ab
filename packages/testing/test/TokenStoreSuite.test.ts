import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TokenStoreSuite from "../src/TokenStoreSuite.js"

/** Writes raw text under a key of the memory store the suite runs against. */
class RawWriter
  extends Context.Tag("test/RawWriter")<RawWriter, (key: string, text: string) => Effect.Effect<void>>()
{}

const memory = Layer.effectContext(
  Effect.map(
    TokenStore.makeMemoryBackend,
    (backend) =>
      Context.make(TokenStore.TokenStore, TokenStore.make(backend)).pipe(
        Context.add(RawWriter, (key, text) => Effect.asVoid(Effect.orDie(backend.set(key, text))))
      )
  )
)

// The corrupt record keeps the secrets, in places where they make the decoding fail: an error that
// quoted the offending values would show them.
const corrupt = (key: string) =>
  Effect.gen(function*() {
    const store = yield* TokenStore.TokenStore
    const write = yield* RawWriter
    const current = yield* store.get(key)
    if (Option.isNone(current)) return yield* write(key, "{\"accessToken\":")
    const encoded = yield* Schema.encode(TokenSet.TokenSet)(current.value.tokens)
    yield* write(key, JSON.stringify({ ...encoded, expiresAt: encoded.accessToken, scopes: encoded.refreshToken }))
  })

TokenStoreSuite.run("memory store", memory, { corrupt })

const validRecord = {
  accessToken: "at-secret-value-1234567890",
  tokenType: "Bearer",
  expiresAt: "2025-10-09T08:53:20.000Z",
  issuedAt: "2025-10-09T07:53:20.000Z",
  scopes: ["api:agent:message:*"]
}

describe("memory store", () => {
  const corruptions: ReadonlyArray<readonly [string, string]> = [
    ["not JSON", "not json at all at-secret-value-1234567890"],
    ["a torn write", "{\"accessToken\":\"at-secret-value-1234567890\",\"tokenType\":\"Bea"],
    ["JSON null", "null"],
    ["a JSON array", "[\"at-secret-value-1234567890\"]"],
    ["an empty file", ""],
    ["a wrong token type", JSON.stringify({ ...validRecord, tokenType: "at-secret-value-1234567890" })],
    ["a prototype-polluting record", `{"__proto__":{"polluted":"at-secret-value-1234567890"},"accessToken":1}`]
  ]

  for (const [label, text] of corruptions) {
    it.effect(`a stored record that is ${label} fails with Corrupt and shows no content (S26, S28)`, () =>
      Effect.gen(function*() {
        const backend = yield* TokenStore.makeMemoryBackend
        const store = TokenStore.make(backend)
        yield* backend.set("user-1", text)
        const error = yield* Effect.flip(store.get("user-1"))
        assert.instanceOf(error, OAuthError.TokenStoreError)
        assert.strictEqual(error.reason, "Corrupt")
        assert.strictEqual(error.key, "user-1")
        assert.isFalse(error.message.includes("secret-value"), error.message)
        assert.isFalse(JSON.stringify(error).includes("secret-value"))
        assert.isUndefined(({} as Record<string, unknown>)["polluted"])
      }))
  }

  it.effect("the lock table leaves no state behind for 10 000 keys locked and released once", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const keys = Array.from({ length: 10_000 }, (_, i) => `user-${i}`)
      const scope = yield* Scope.make()
      yield* Effect.forEach(keys, (key) => Scope.extend(table.acquire(key, Duration.seconds(30)), scope), {
        discard: true
      })
      assert.strictEqual(yield* table.size, 10_000)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(yield* table.size, 0)
    }))

  it.effect("an interrupted waiter leaves no lock state behind", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const holder = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(30)), holder)
      const waiter = yield* Effect.fork(Effect.scoped(table.acquire("user-1", Duration.seconds(30))))
      yield* TestClock.adjust(Duration.seconds(1))
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)))
      yield* Fiber.interrupt(waiter)
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(waiter)))
      yield* Scope.close(holder, Exit.void)
      assert.strictEqual(yield* table.size, 0)
    }))

  it.effect("a lease runs on the store's clock: a dead holder's lock is taken over when the TestClock passes the lease (S20)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const dead = yield* Scope.make()
      const first = yield* Scope.extend(table.acquire("user-1", Duration.seconds(10)), dead)
      const waiter = yield* Effect.fork(Effect.scoped(table.acquire("user-1", Duration.seconds(10))))
      yield* TestClock.adjust(Duration.millis(9_999))
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)))
      yield* TestClock.adjust(Duration.millis(1))
      const second = yield* Fiber.join(waiter)
      assert.isTrue(second.fence > first.fence)
      assert.strictEqual(yield* table.size, 0)
    }))
})
