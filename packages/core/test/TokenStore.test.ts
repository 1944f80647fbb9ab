import * as TokenStore from "@effect-oauth/core/TokenStore"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

/** Moves the test clock to the next pending sleep (or lets ready fibers run when there is none). */
const nextSleep = Effect.gen(function*() {
  yield* TestClock.adjust(0)
  const now = yield* TestClock.currentTimeMillis
  const sleeps = (yield* TestClock.sleeps()).pipe((chunk) => Array.from(chunk)).filter((t) => t > now)
  yield* TestClock.adjust(sleeps.length === 0 ? 0 : Math.min(...sleeps) - now)
})

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

  it.effect.prop(
    "a waiter's clock keeps moving and it takes the lock as soon as it is free, whatever fractions of a millisecond the clock, the lease and its renewals carry (S20, S45)",
    {
      start: FastCheck.double({ min: 0, max: 1e10, noNaN: true }),
      lease: FastCheck.double({ min: 0.001, max: 1e7, noNaN: true }),
      renew: FastCheck.boolean()
    },
    ({ lease, renew, start }) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(start)
        const table = yield* TokenStore.makeLockTable
        const holder = yield* Scope.make()
        yield* Scope.extend(table.acquire("user-1", Duration.millis(lease), { renew }), holder)
        const waiter = yield* Effect.fork(Effect.scoped(table.acquire("user-1", Duration.millis(lease))))
        const from = yield* TestClock.currentTimeMillis
        // A live holder renews every lease / 3 and the waiter re-checks when the lease it saw ends:
        // a few sleeps per lease. A wait that rounds to nothing would keep the clock where it is.
        for (let i = 0; i < 40 && Option.isNone(yield* Fiber.poll(waiter)); i++) yield* nextSleep
        if (renew) {
          assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)), "a live holder lost its renewed lock")
          assert.isTrue(
            (yield* TestClock.currentTimeMillis) - from >= 2 * Duration.toMillis(Duration.millis(lease)),
            "the clock stopped moving while a waiter waited"
          )
          yield* Scope.close(holder, Exit.void)
          for (let i = 0; i < 2 && Option.isNone(yield* Fiber.poll(waiter)); i++) yield* nextSleep
        }
        assert.isTrue(Option.isSome(yield* Fiber.poll(waiter)), "the waiter still waits for a free lock")
      }),
    { fastCheck: { numRuns: 40 } }
  )

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
