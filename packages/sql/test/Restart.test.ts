/**
 * A PostgreSQL store whose database restarts (SPEC S45): every operation started after the restart ends
 * (succeeds, or fails with a typed error) in bounded time, a lock held across the restart is released,
 * and the key can be locked again, here and by another process's store. Its own cluster: `halt` stops it
 * at once, as a crash would, and `resume` starts it again on the same port.
 */
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as SqlTokenStore from "@effect-oauth/sql/SqlTokenStore"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { type Postgres, startPostgres } from "./setup/postgres.js"

let postgres: Postgres | undefined
beforeAll(async () => {
  postgres = await startPostgres({ durable: true })
}, 60_000)
afterAll(async () => {
  await postgres?.stop()
}, 60_000)

const database = Effect.suspend(() =>
  postgres === undefined ? Effect.dieMessage("PostgreSQL did not start") : Effect.succeed(postgres)
)
const halt = Effect.flatMap(database, (pg) => Effect.promise(() => pg.halt()))
const resume = Effect.flatMap(database, (pg) => Effect.promise(() => pg.resume()))

/** A store of its own (a pool of its own, like another process) on tables of `prefix`. */
const storeOn = (prefix: string) =>
  Effect.flatMap(database, (pg) =>
    Layer.build(
      SqlTokenStore.layer({ tablePrefix: prefix }).pipe(
        Layer.provide(PgClient.layer({ url: Redacted.make(pg.url), maxConnections: 4 }))
      )
    )).pipe(Effect.map((context) => context.unsafeMap.get(TokenStore.TokenStore.key) as TokenStore.Service))

/** `effect`, which must end (either way) within `seconds`; a hang fails the test naming `step`. */
const within = <A, E, R>(step: string, seconds: number, effect: Effect.Effect<A, E, R>) =>
  effect.pipe(
    Effect.exit,
    Effect.timeoutFail({
      duration: Duration.seconds(seconds),
      onTimeout: () => new Error(`${step} did not end within ${seconds} s after the database restarted`)
    }),
    Effect.orDie
  )

/** Retries `effect` until it succeeds (the database is starting up), within `seconds`. */
const eventually = <A, E, R>(step: string, seconds: number, effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    within(step, seconds, Effect.retry(effect, { while: () => true })),
    (exit) => Exit.isSuccess(exit) ? Effect.succeed(exit.value) : Effect.dieMessage(`${step} failed`)
  )

const lease = { lease: Duration.seconds(4), renew: true } as const

/** Two stores on new tables, and `key` locked by the first ("mine") in the scope `held`. */
const holding = (key: string) =>
  Effect.gen(function*() {
    const prefix = `r_${randomUUID().replace(/-/g, "").slice(0, 10)}_`
    const mine = yield* storeOn(prefix)
    const theirs = yield* storeOn(prefix)
    const held = yield* Scope.make()
    yield* Scope.extend(mine.lock(key, lease), held)
    return { held, key, mine, theirs }
  })

describe("SqlTokenStore on PostgreSQL: the database restarts (S45)", () => {
  it.live("a lock held across a restart is released, and both stores lock the key again", () =>
    Effect.gen(function*() {
      const { held, key, mine, theirs } = yield* holding("ann")

      yield* halt
      yield* resume
      // Released after the restart: its advisory session is dead, the row is ours.
      yield* within("releasing the lock held across the restart", 10, Scope.close(held, Exit.void))

      yield* eventually("the other store's lock after the restart", 15, Effect.scoped(theirs.lock(key, lease)))
      yield* eventually("this store's lock after the restart", 15, Effect.scoped(mine.lock(key, lease)))
      assert.isTrue(Option.isNone(yield* eventually("a read after the restart", 10, mine.get(key))))
    }).pipe(Effect.scoped), 60_000)

  it.live(
    "a live holder keeps its lock across a restart: its session died with the server, not with it",
    () =>
      Effect.gen(function*() {
        const { held, key, theirs } = yield* holding("dan")

        yield* halt
        yield* resume
        // The other store's advisory lock is free now (the restart ended our session), but our row is
        // from the server's earlier run: it waits for our release, well within our lease.
        const waiter = yield* Effect.fork(
          Effect.retry(Effect.scoped(theirs.lock(key, lease)), { while: () => true })
        )
        yield* Effect.sleep(Duration.millis(1_500))
        assert.isTrue(Option.isNone(yield* waiter.poll), "the other store took over a live holder's lock")
        yield* within("releasing the lock held across the restart", 10, Scope.close(held, Exit.void))
        yield* within("the waiter's lock after the release", 10, waiter.await)
      }).pipe(Effect.scoped),
    60_000
  )

  it.live(
    "a lock released while the database is down is free for the other store once it is back",
    () =>
      Effect.gen(function*() {
        const { held, key, mine, theirs } = yield* holding("bob")

        yield* halt
        yield* within("releasing the lock while the database is down", 10, Scope.close(held, Exit.void))
        yield* resume

        yield* eventually("the other store's lock after the restart", 15, Effect.scoped(theirs.lock(key, lease)))
        yield* eventually("this store's lock after the restart", 15, Effect.scoped(mine.lock(key, lease)))
      }).pipe(Effect.scoped),
    60_000
  )

  it.live("a waiter queued before the database went down gets the lock once it is back", () =>
    Effect.gen(function*() {
      const { held, key, theirs } = yield* holding("cid")
      const waiter = yield* Effect.fork(
        Effect.retry(Effect.scoped(theirs.lock(key, lease)), { while: () => true })
      )
      yield* Effect.sleep(Duration.millis(200))

      yield* halt
      yield* resume
      yield* within("releasing the lock held across the restart", 10, Scope.close(held, Exit.void))
      yield* within("the waiter's lock after the restart", 15, waiter.await)
    }).pipe(Effect.scoped), 60_000)
})
