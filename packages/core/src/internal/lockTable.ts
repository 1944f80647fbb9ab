/**
 * The in-process lock table behind `TokenStore.makeLockTable`: one holder per key with a lease on
 * Effect's `Clock`, waiters woken on release, and no state left for idle keys (SPEC S20, S45).
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Lock } from "../TokenStore.js"

interface LockState {
  holder: { readonly fence: number; expiresAt: number } | undefined
  readonly waiters: Set<Deferred.Deferred<void>>
}

export const make = Effect.gen(function*() {
  const table = new Map<string, LockState>()
  let fences = 0

  const wakeAll = (state: LockState) => {
    for (const waiter of state.waiters) Deferred.unsafeDone(waiter, Effect.void)
    state.waiters.clear()
  }

  const release = (key: string, fence: number) =>
    Effect.sync(() => {
      const state = table.get(key)
      if (state === undefined || state.holder?.fence !== fence) return
      state.holder = undefined
      wakeAll(state)
      table.delete(key)
    })

  /** Extends the lease of the holder `fence`; false once it is no longer the holder. */
  const extend = (key: string, fence: number, lease: number) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const holder = table.get(key)?.holder
      if (holder === undefined || holder.fence !== fence) return false
      holder.expiresAt = now + lease
      return true
    })

  const tryTake = (key: string, lease: number, now: number, waiter: Deferred.Deferred<void>) => {
    let state = table.get(key)
    if (state === undefined) {
      state = { holder: undefined, waiters: new Set() }
      table.set(key, state)
    }
    if (state.holder === undefined || state.holder.expiresAt <= now) {
      state.holder = { fence: ++fences, expiresAt: now + lease }
      return { _tag: "Taken" as const, lock: { key, fence: state.holder.fence, expiresAt: state.holder.expiresAt } }
    }
    state.waiters.add(waiter)
    return { _tag: "Wait" as const, until: state.holder.expiresAt, state }
  }

  const acquire = (
    key: string,
    lease: Duration.DurationInput,
    options?: { readonly renew?: boolean | undefined }
  ): Effect.Effect<Lock, never, Scope.Scope> => {
    // Whole milliseconds: `Duration` rounds a fraction of a millisecond to nanoseconds, so a wait
    // computed as "lease end minus now" could end a hair before the lease does and, re-computed,
    // round to nothing, over and over. At least 3, so that a renewal comes before the lease ends.
    const millis = Math.max(3, Math.ceil(Duration.toMillis(lease)))
    const renewal = (fence: number) =>
      Effect.interruptible(
        Effect.repeat(
          Effect.flatMap(Effect.sleep(Duration.millis(Math.floor(millis / 3))), () => extend(key, fence, millis)),
          { while: (held) => held }
        )
      )
    return Effect.flatMap(Effect.scope, (scope) =>
      // Taking the lock and registering its release happen in one uninterruptible step; the wait
      // between attempts stays interruptible. One mask for the whole loop: a mask opened inside the
      // loop would "restore" the uninterruptible state of the round before, so from the second wait
      // on a waiter could not be interrupted and, woken by a release, would still sit out the
      // holder's whole lease (the race's losing sleep could not be interrupted).
      Effect.uninterruptibleMask((restore) => {
        const loop: Effect.Effect<Lock> = Effect.flatMap(
          Effect.zip(Clock.currentTimeMillis, Deferred.make<void>()),
          ([now, waiter]) => {
            const outcome = tryTake(key, millis, now, waiter)
            if (outcome._tag === "Taken") {
              const fence = outcome.lock.fence
              const held = Effect.as(Scope.addFinalizer(scope, release(key, fence)), outcome.lock)
              // The renewal fiber lives in the lock's scope: closing it stops the renewal, then releases.
              return options?.renew === true ? Effect.zipLeft(held, Effect.forkIn(renewal(fence), scope)) : held
            }
            return restore(
              Deferred.await(waiter).pipe(
                Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(1, Math.ceil(outcome.until - now))))),
                Effect.ensuring(Effect.sync(() => outcome.state.waiters.delete(waiter)))
              )
            ).pipe(Effect.zipRight(Effect.suspend(() => loop)))
          }
        )
        return loop
      }))
  }

  return {
    acquire,
    /** How many keys have lock state: holders or waiters. */
    size: Effect.sync(() => table.size)
  }
})
