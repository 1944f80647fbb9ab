/**
 * A keyed single flight: the first caller for a key starts the run, every caller for that key awaits
 * the same Deferred until it ends (SPEC S19). The run is forked into a scope of the owner's (the
 * service's), not the caller's, so interrupting callers never interrupts the run (S23). The map is
 * only read and written in synchronous steps, which the Effect runtime never interleaves.
 *
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FiberId from "effect/FiberId"
import type * as Scope from "effect/Scope"

/** @internal */
export interface SingleFlight<A, E> {
  /** Awaits the key's run, starting `run` when none is in flight. */
  readonly join: (key: string, run: Effect.Effect<A, E>) => Effect.Effect<A, E>
  /** Starts `run()` when none is in flight, without waiting for it. */
  readonly start: (key: string, run: () => Effect.Effect<A, E>) => Effect.Effect<void>
  /** The key's run in flight, if any. */
  readonly current: (key: string) => Deferred.Deferred<A, E> | undefined
}

/** @internal */
export const make = <A, E>(scope: Scope.Scope): SingleFlight<A, E> => {
  const flights = new Map<string, Deferred.Deferred<A, E>>()

  const launch = (key: string, run: Effect.Effect<A, E>): Effect.Effect<Deferred.Deferred<A, E>> => {
    const deferred = Deferred.unsafeMake<A, E>(FiberId.none)
    flights.set(key, deferred)
    const settle = () => {
      if (flights.get(key) === deferred) flights.delete(key)
    }
    // Every end of the run, interruption by a closing scope included, reaches its waiters.
    const body = Effect.onExit(run, (exit) => Effect.zipRight(Effect.sync(settle), Deferred.done(deferred, exit)))
    // A run that never starts (its scope already closed) still ends its waiters.
    return Effect.map(Effect.forkIn(Effect.interruptible(body), scope), (fiber) => {
      fiber.addObserver((exit) => {
        settle()
        if (Exit.isFailure(exit)) Deferred.unsafeDone(deferred, Effect.failCause(exit.cause))
      })
      return deferred
    })
  }

  const join = (key: string, run: Effect.Effect<A, E>): Effect.Effect<A, E> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.suspend(() => {
        const existing = flights.get(key)
        return existing !== undefined
          ? restore(Deferred.await(existing))
          : Effect.flatMap(launch(key, run), (deferred) => restore(Deferred.await(deferred)))
      })
    )

  const start = (key: string, run: () => Effect.Effect<A, E>): Effect.Effect<void> =>
    Effect.uninterruptible(Effect.suspend(() => flights.has(key) ? Effect.void : Effect.asVoid(launch(key, run()))))

  return { join, start, current: (key) => flights.get(key) }
}
