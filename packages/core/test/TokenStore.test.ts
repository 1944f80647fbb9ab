import * as TokenStore from "@effect-oauth/core/TokenStore"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

describe("TokenStore", () => {
  it.effect("a renewed lock is kept past its lease while its scope is open, and released when it closes (S45)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const holder = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(9), { renew: true }), holder)
      const waiter = yield* Effect.fork(Effect.scoped(table.acquire("user-1", Duration.seconds(9))))
      yield* TestClock.adjust(Duration.minutes(5))
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)), "a live holder lost its renewed lock")
      yield* Scope.close(holder, Exit.void)
      yield* Fiber.join(waiter)
      assert.strictEqual(yield* table.size, 0)
    }))

  it.effect("a lock that is not renewed is taken over once its lease runs out (S20)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const dead = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(9)), dead)
      const waiter = yield* Effect.fork(Effect.scoped(table.acquire("user-1", Duration.seconds(9))))
      yield* TestClock.adjust(Duration.seconds(9))
      yield* Fiber.join(waiter)
    }))

  it.effect("the memory store keeps records as text through make(backend), the possibly-spent mark included (S44)", () =>
    Effect.gen(function*() {
      const backend = yield* TokenStore.makeMemoryBackend
      const store = TokenStore.make(backend)
      yield* backend.set("user-1", "{\"torn")
      const error = yield* Effect.flip(store.get("user-1"))
      assert.strictEqual(error._tag, "TokenStoreError")
      assert.isTrue(Option.isNone(yield* store.get("user-2")))
    }))
})
