/**
 * The in-process lock table behind `TokenStore.makeLockTable`: one holder per key with a lease on
 * Effect's `Clock`, a line of waiters per key served in arrival order, and no state left for idle
 * keys (SPEC S20, S45, S47).
 *
 * A release hands the lock to the waiter at the head of the line at once: its `Deferred` is completed
 * with the lock, so no waiter races another for it, and a newcomer never takes a lock someone waits
 * for. A holder whose lease ran out (it died without releasing) is replaced by the head of the line
 * when any waiter of the key wakes at the lease's end. Every step is one synchronous `Effect.sync`,
 * so it is atomic on the Effect runtime.
 */
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import type { Lock } from "../TokenStore.js"

interface Waiter {
  /** The lease it asked for, in whole milliseconds. */
  readonly millis: number
  /** Completed with the lock when it is handed over. */
  readonly handed: Deferred.Deferred<Lock>
  /** The lock handed to it, set in the same step that completes `handed`. */
  lock: Lock | undefined
}

interface LockState {
  holder: { readonly fence: number; expiresAt: number } | undefined
  /** In arrival order; the head is served first. */
  readonly line: Array<Waiter>
}

export const make = Effect.gen(function*() {
  const table = new Map<string, LockState>()
  let fences = 0

  const grant = (key: string, state: LockState, millis: number, now: number): Lock => {
    const holder = { fence: ++fences, expiresAt: now + millis }
    state.holder = holder
    return { key, fence: holder.fence, expiresAt: holder.expiresAt }
  }

  /**
   * When the lock is free or its lease ran out, hands it to the head of the line; forgets the key
   * when no one holds it and no one waits.
   */
  const settle = (key: string, state: LockState, now: number) => {
    if (state.holder !== undefined && state.holder.expiresAt > now) return
    const head = state.line.shift()
    if (head === undefined) {
      state.holder = undefined
      if (table.get(key) === state) table.delete(key)
      return
    }
    head.lock = grant(key, state, head.millis, now)
    Deferred.unsafeDone(head.handed, Exit.succeed(head.lock))
  }

  const release = (key: string, fence: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => {
        const state = table.get(key)
        if (state === undefined || state.holder?.fence !== fence) return
        state.holder = undefined
        settle(key, state, now)
      }))

  /** Extends the lease of the holder `fence`; false once it is no longer the holder. */
  const extend = (key: string, fence: number, lease: number) =>
    Effect.map(Clock.currentTimeMillis, (now) => {
      const holder = table.get(key)?.holder
      if (holder === undefined || holder.fence !== fence) return false
      holder.expiresAt = now + lease
      return true
    })

  /** Takes a free lock no one waits for, or joins the end of the line. */
  const arrive = (key: string, millis: number, now: number, handed: Deferred.Deferred<Lock>) => {
    let state = table.get(key)
    if (state === undefined) {
      state = { holder: undefined, line: [] }
      table.set(key, state)
    }
    settle(key, state, now)
    if (state.holder === undefined) {
      table.set(key, state)
      return { _tag: "Taken" as const, lock: grant(key, state, millis, now) }
    }
    const waiter: Waiter = { millis, handed, lock: undefined }
    state.line.push(waiter)
    return { _tag: "Wait" as const, waiter, state }
  }

  /**
   * Waits in line until the lock is handed over. At the end of the holder's lease (as it was when
   * the waiter looked) the waiter wakes and settles the key: a lease that ran out goes to the head.
   */
  const await_ = (key: string, waiter: Waiter, state: LockState): Effect.Effect<Lock> =>
    Effect.suspend(() => {
      if (waiter.lock !== undefined) return Effect.succeed(waiter.lock)
      return Effect.flatMap(Clock.currentTimeMillis, (now) => {
        settle(key, state, now)
        if (waiter.lock !== undefined) return Effect.succeed(waiter.lock)
        // Whole milliseconds, at least one: a wait that rounds to nothing would spin.
        const until = state.holder?.expiresAt ?? now
        return Effect.asVoid(Deferred.await(waiter.handed)).pipe(
          Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(1, Math.ceil(until - now))))),
          Effect.zipRight(Effect.suspend(() => await_(key, waiter, state)))
        )
      })
    })

  /**
   * A waiter that stops waiting (interrupted) leaves the line; one that was handed the lock in the
   * same moment passes it on to the next.
   */
  const leave = (key: string, waiter: Waiter, state: LockState) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.suspend(() => {
        if (waiter.lock !== undefined) return release(key, waiter.lock.fence)
        const index = state.line.indexOf(waiter)
        if (index >= 0) state.line.splice(index, 1)
        settle(key, state, now)
        return Effect.void
      }))

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
      // Joining the line, taking the lock and registering its release happen in uninterruptible
      // steps; only the wait in line is interruptible, and an interrupted waiter leaves the line or,
      // handed the lock in that moment, passes it on.
      Effect.uninterruptibleMask((restore) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const handed = yield* Deferred.make<Lock>()
          const outcome = arrive(key, millis, now, handed)
          const lock = outcome._tag === "Taken" ? outcome.lock : yield* restore(
            await_(key, outcome.waiter, outcome.state)
          ).pipe(
            Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : leave(key, outcome.waiter, outcome.state))
          )
          yield* Scope.addFinalizer(scope, release(key, lock.fence))
          // The renewal fiber lives in the lock's scope: closing it stops the renewal, then releases.
          if (options?.renew === true) yield* Effect.forkIn(renewal(lock.fence), scope)
          return lock
        })
      ))
  }

  return {
    acquire,
    /** How many keys have lock state: holders or waiters. */
    size: Effect.sync(() => table.size)
  }
})
