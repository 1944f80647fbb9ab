import * as TokenStore from "@effect-oauth/core/TokenStore"
import { assert, describe, it } from "@effect/vitest"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"

type Table = Effect.Effect.Success<typeof TokenStore.makeLockTable>

/** Moves the test clock to the next pending sleep (or lets ready fibers run when there is none). */
const nextSleep = Effect.gen(function*() {
  yield* TestClock.adjust(0)
  const now = yield* TestClock.currentTimeMillis
  const sleeps = (yield* TestClock.sleeps()).pipe((chunk) => Array.from(chunk)).filter((t) => t > now)
  yield* TestClock.adjust(sleeps.length === 0 ? 0 : Math.min(...sleeps) - now)
})

/**
 * A waiter that records its name once it has the lock, then holds it until `release` is done (or,
 * without one, releases it at once).
 */
const waiter = (
  table: Table,
  name: string,
  order: Array<string>,
  options: { readonly lease?: Duration.DurationInput; readonly release?: Deferred.Deferred<void> } = {}
) =>
  Effect.fork(Effect.scoped(Effect.gen(function*() {
    const lock = yield* table.acquire("user-1", options.lease ?? Duration.seconds(30))
    order.push(name)
    if (options.release !== undefined) yield* Deferred.await(options.release)
    return lock
  })))

describe("TokenStore.makeLockTable", () => {
  it.effect("waiters get a held lock in exactly the order they arrived (S47)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const holder = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(30)), holder)
      const order: Array<string> = []
      const fibers: Array<Fiber.RuntimeFiber<TokenStore.Lock>> = []
      for (const name of ["a", "b", "c", "d", "e", "f"]) {
        fibers.push(yield* waiter(table, name, order))
        yield* TestClock.adjust(0)
      }
      assert.deepStrictEqual(order, [])
      yield* Scope.close(holder, Exit.void)
      const locks = yield* Fiber.joinAll(fibers)
      assert.deepStrictEqual(order, ["a", "b", "c", "d", "e", "f"])
      const fences = locks.map((lock) => lock.fence)
      assert.deepStrictEqual(fences, [...fences].sort((x, y) => x - y))
      assert.strictEqual(yield* table.size, 0)
    }))

  it.effect("a released lock goes to the waiter in front: a newcomer arriving at that moment does not overtake it (S47)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const holder = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(30)), holder)
      const order: Array<string> = []
      const first = yield* waiter(table, "waiter", order)
      yield* TestClock.adjust(0)
      // The release and the newcomer's attempt come before the waiter runs again.
      yield* Scope.close(holder, Exit.void)
      const newcomer = yield* Effect.scoped(
        Effect.tap(table.acquire("user-1", Duration.seconds(30)), () => Effect.sync(() => order.push("newcomer")))
      ).pipe(Effect.fork)
      yield* Fiber.join(first)
      yield* Fiber.join(newcomer)
      assert.deepStrictEqual(order, ["waiter", "newcomer"])
      assert.strictEqual(yield* table.size, 0)
    }))

  it.effect("a newcomer joins the end of the line while a lock is held, behind every waiter (S47)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const holder = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(30)), holder)
      const order: Array<string> = []
      const release = yield* Deferred.make<void>()
      const early = yield* waiter(table, "early", order, { release })
      yield* TestClock.adjust(0)
      yield* Scope.close(holder, Exit.void)
      yield* TestClock.adjust(0)
      const second = yield* waiter(table, "second", order)
      yield* TestClock.adjust(0)
      const late = yield* waiter(table, "late", order)
      yield* TestClock.adjust(0)
      assert.deepStrictEqual(order, ["early"])
      yield* Deferred.succeed(release, undefined)
      yield* Fiber.joinAll([early, second, late])
      assert.deepStrictEqual(order, ["early", "second", "late"])
    }))

  it.effect("an interrupted waiter leaves the line and the lock goes to the next one (S47)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const holder = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(30)), holder)
      const order: Array<string> = []
      const head = yield* waiter(table, "head", order)
      yield* TestClock.adjust(0)
      const next = yield* waiter(table, "next", order)
      yield* TestClock.adjust(0)
      yield* Fiber.interrupt(head)
      yield* Scope.close(holder, Exit.void)
      yield* Fiber.join(next)
      assert.deepStrictEqual(order, ["next"])
      assert.strictEqual(yield* table.size, 0)
    }))

  it.effect("a waiter interrupted just as it is handed the lock passes it on, leaking nothing (S47)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      const holder = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(30)), holder)
      const order: Array<string> = []
      const head = yield* waiter(table, "head", order)
      yield* TestClock.adjust(0)
      const next = yield* waiter(table, "next", order)
      yield* TestClock.adjust(0)
      // The interruption is on its way to the head when the release hands it the lock.
      yield* Fiber.interruptFork(head)
      yield* Scope.close(holder, Exit.void)
      assert.isTrue(Exit.isInterrupted(yield* Fiber.await(head)))
      yield* Fiber.join(next)
      assert.deepStrictEqual(order, ["next"])
      assert.strictEqual(yield* table.size, 0)
      // Nothing is held: a newcomer takes the lock at once.
      const free = yield* Effect.scoped(table.acquire("user-1", Duration.seconds(30))).pipe(Effect.fork)
      yield* TestClock.adjust(0)
      assert.isTrue(Option.isSome(yield* Fiber.poll(free)), "the interrupted waiter kept the lock")
    }))

  it.effect("holders whose lease runs out are taken over by the waiters in line, in arrival order (S20, S47)", () =>
    Effect.gen(function*() {
      const table = yield* TokenStore.makeLockTable
      // Neither the holder nor the waiters ever release: each stands for a process that died holding it.
      const dead = yield* Scope.make()
      yield* Scope.extend(table.acquire("user-1", Duration.seconds(9)), dead)
      const order: Array<string> = []
      const never = yield* Deferred.make<void>()
      const fibers: Array<Fiber.RuntimeFiber<TokenStore.Lock>> = []
      for (const name of ["a", "b", "c"]) {
        fibers.push(yield* waiter(table, name, order, { lease: Duration.seconds(9), release: never }))
        yield* TestClock.adjust(Duration.seconds(1))
      }
      // 3 s have passed: the first lease ends at 9 s, each next one 9 s after its take-over.
      yield* TestClock.adjust(Duration.seconds(5))
      assert.deepStrictEqual(order, [])
      yield* TestClock.adjust(Duration.seconds(1))
      assert.deepStrictEqual(order, ["a"])
      yield* TestClock.adjust(Duration.seconds(9))
      assert.deepStrictEqual(order, ["a", "b"])
      yield* TestClock.adjust(Duration.seconds(9))
      assert.deepStrictEqual(order, ["a", "b", "c"])
      yield* Effect.forEach(fibers, Fiber.interrupt)
      assert.strictEqual(yield* table.size, 0)
    }))

  type Step =
    | { readonly _tag: "arrive"; readonly lease: number }
    | { readonly _tag: "interrupt"; readonly pick: number }
    | { readonly _tag: "release"; readonly arrive: boolean }
    | { readonly _tag: "advance"; readonly millis: number }

  const step: FastCheck.Arbitrary<Step> = FastCheck.oneof(
    FastCheck.record({
      _tag: FastCheck.constant("arrive" as const),
      lease: FastCheck.double({ min: 0.5, max: 50, noNaN: true })
    }),
    FastCheck.record({ _tag: FastCheck.constant("interrupt" as const), pick: FastCheck.nat() }),
    // With `arrive`, a newcomer comes right as the holder lets go.
    FastCheck.record({ _tag: FastCheck.constant("release" as const), arrive: FastCheck.boolean() }),
    FastCheck.record({
      _tag: FastCheck.constant("advance" as const),
      millis: FastCheck.double({ min: 0, max: 30, noNaN: true })
    })
  )

  it.effect.prop(
    "whatever the arrivals, interruptions, releases and lapsed leases, waiters get the lock in arrival order, one holder at a time, none starves, and no state is left (S20, S47)",
    { steps: FastCheck.array(step, { maxLength: 40 }) },
    ({ steps }) =>
      Effect.gen(function*() {
        const table = yield* TokenStore.makeLockTable
        interface Participant {
          readonly index: number
          readonly release: Deferred.Deferred<void>
          fiber: Fiber.RuntimeFiber<void> | undefined
          arrived: boolean
          lock: TokenStore.Lock | undefined
          done: boolean
          interrupted: boolean
        }
        const participants: Array<Participant> = []
        const order: Array<number> = []
        const overlaps: Array<string> = []
        const arrive = (lease: number) =>
          Effect.gen(function*() {
            const self: Participant = {
              index: participants.length,
              release: yield* Deferred.make<void>(),
              fiber: undefined,
              arrived: false,
              lock: undefined,
              done: false,
              interrupted: false
            }
            participants.push(self)
            self.fiber = yield* Effect.fork(
              Effect.gen(function*() {
                self.arrived = true
                const lock = yield* table.acquire("user-1", Duration.millis(lease))
                const now = yield* TestClock.currentTimeMillis
                // Another holder may only be one whose lease ran out (it is as good as dead).
                for (const other of participants) {
                  if (other.lock !== undefined && !other.done && other.lock.expiresAt > now) {
                    overlaps.push(`${self.index} took the lock at ${now} while ${other.index} held it`)
                  }
                }
                self.lock = lock
                order.push(self.index)
                yield* Deferred.await(self.release)
              }).pipe(Effect.scoped, Effect.ensuring(Effect.sync(() => void (self.done = true))))
            )
            yield* TestClock.adjust(0)
            assert.isTrue(self.arrived, "a participant did not arrive at once")
          })
        for (const next of steps) {
          switch (next._tag) {
            case "arrive":
              yield* arrive(next.lease)
              break
            case "interrupt": {
              const live = participants.filter((p) => !p.done)
              const target = live[next.pick % Math.max(1, live.length)]
              if (target?.fiber !== undefined) {
                target.interrupted = true
                yield* Fiber.interrupt(target.fiber)
              }
              break
            }
            case "release": {
              const holder = participants.find((p) => p.lock !== undefined && !p.done)
              if (holder !== undefined) yield* Deferred.succeed(holder.release, undefined)
              if (next.arrive) yield* arrive(10)
              break
            }
            case "advance":
              yield* TestClock.adjust(Duration.millis(next.millis))
          }
          yield* TestClock.adjust(0)
        }
        // Every holder lets go as soon as it gets the lock: each waiter left must get it in turn.
        for (const p of participants) yield* Deferred.succeed(p.release, undefined)
        for (let i = 0; i < 4 * participants.length + 4 && participants.some((p) => !p.done); i++) yield* nextSleep
        assert.deepStrictEqual(overlaps, [])
        const starved = participants.filter((p) => !p.interrupted && p.lock === undefined).map((p) => p.index)
        assert.deepStrictEqual(starved, [], "a waiter never got the lock")
        assert.deepStrictEqual(order, [...order].sort((x, y) => x - y), "a later waiter overtook an earlier one")
        assert.strictEqual(yield* table.size, 0, "a released key left state behind")
      }),
    { fastCheck: { numRuns: 100 } }
  )
})
