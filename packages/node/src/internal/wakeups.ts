/**
 * Wake-ups of the lock waiters of one `NodeTokenStore` (SPEC S47): a change of the token file or of
 * its lock file seen by `fs.watch`, or a release in this store. `fs.watch` misses events on some
 * filesystems and may not run at all, so a waiter also looks again after its poll interval; a
 * wake-up only makes it look sooner.
 */
import type * as FileSystem from "@effect/platform/FileSystem"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/** The wake-ups of one store. */
export interface Wakeups {
  /** How many wake-ups there were so far: a waiter notes it before it looks at the file. */
  readonly seen: Effect.Effect<number>
  /** Waits for a wake-up after `seen` (at once if one came already), or `millis` at most. */
  readonly pause: (seen: number, millis: number) => Effect.Effect<void>
  /** Wakes every waiter. */
  readonly wake: Effect.Effect<void>
  /** Keeps the directory watched while the scope is open (one watcher for all waiters). */
  readonly watching: Effect.Effect<void, never, Scope.Scope>
}

/**
 * Wake-ups from `fs.watch` on `directory`, for entries named `name` or `name.lock`. The watcher runs
 * only while someone waits, in `storeScope`; when it fails (no such directory yet, no watch support)
 * it is started again a second later.
 */
export const make = (
  fs: FileSystem.FileSystem,
  options: { readonly directory: string; readonly name: string; readonly storeScope: Scope.Scope }
): Wakeups => {
  const { directory, name, storeScope } = options
  let count = 0
  const sleepers = new Set<Deferred.Deferred<void>>()
  let watchers = 0
  let watcher: Fiber.RuntimeFiber<void> | undefined = undefined

  const wakeNow = () => {
    count++
    for (const sleeper of sleepers) Deferred.unsafeDone(sleeper, Exit.void)
    sleepers.clear()
  }

  const concerns = (path: string) => {
    const base = path.split(/[\\/]/).pop() ?? path
    return base === name || base === `${name}.lock`
  }

  const watch = Stream.runForEach(
    fs.watch(directory),
    (event) => concerns(event.path) ? Effect.sync(wakeNow) : Effect.void
  ).pipe(
    Effect.retry(Schedule.spaced(Duration.seconds(1))),
    Effect.ignore,
    Effect.interruptible
  )

  const pause: Wakeups["pause"] = (seen, millis) =>
    Effect.flatMap(Deferred.make<void>(), (sleeper) => {
      if (count !== seen) return Effect.void
      sleepers.add(sleeper)
      return Deferred.await(sleeper).pipe(
        Effect.timeoutOption(Duration.millis(millis)),
        Effect.ensuring(Effect.sync(() => sleepers.delete(sleeper)))
      )
    })

  const watching: Wakeups["watching"] = Effect.acquireRelease(
    Effect.suspend(() => {
      watchers++
      if (watcher !== undefined) return Effect.void
      return Effect.map(Effect.forkIn(watch, storeScope), (fiber) => void (watcher = fiber))
    }),
    () =>
      Effect.suspend(() => {
        watchers--
        if (watchers > 0 || watcher === undefined) return Effect.void
        const fiber = watcher
        watcher = undefined
        return Fiber.interruptFork(fiber)
      })
  )

  return { seen: Effect.sync(() => count), pause, wake: Effect.sync(wakeNow), watching }
}
