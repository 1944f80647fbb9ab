/**
 * The memory backend of `TokenStore`: records in a map, versions from one counter, locks from the
 * in-process lock table. Every operation is synchronous, so each is atomic on the Effect runtime.
 * `awaitChange` completes at the next write or removal of the key; idle keys leave no state behind.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import type { VersionConflict } from "../OAuthError.js"
import type { Backend, RawRecord, WriteOptions } from "../TokenStore.js"
import * as LockTable from "./lockTable.js"

/** `versionConflict` builds the error of a write whose expected version is not the record's. */
export const make = (
  versionConflict: (key: string, expected: number | null, actual: number | null) => VersionConflict
): Effect.Effect<Backend> =>
  Effect.gen(function*() {
    const records = new Map<string, RawRecord>()
    const locks = yield* LockTable.make
    let versions = 0
    /** Waiters for a change of the key, removed as they stop waiting. */
    const watchers = new Map<string, Set<Deferred.Deferred<void>>>()
    const changed = (key: string) => {
      const waiting = watchers.get(key)
      if (waiting === undefined) return
      watchers.delete(key)
      for (const watcher of waiting) Deferred.unsafeDone(watcher, Exit.void)
    }
    const awaitChange = (key: string) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Deferred.make<void>(), (watcher) => {
          const waiting = watchers.get(key) ?? new Set()
          waiting.add(watcher)
          watchers.set(key, waiting)
          return restore(Deferred.await(watcher)).pipe(
            Effect.ensuring(Effect.sync(() => {
              waiting.delete(watcher)
              if (waiting.size === 0 && watchers.get(key) === waiting) watchers.delete(key)
            }))
          )
        })
      )

    const check = (key: string, options: WriteOptions | undefined): VersionConflict | undefined => {
      const expected = options?.expectedVersion
      const actual = records.get(key)?.version ?? null
      return expected === undefined || expected === actual ? undefined : versionConflict(key, expected, actual)
    }

    return {
      get: (key) => Effect.sync(() => Option.fromNullable(records.get(key))),
      set: (key, text, options) =>
        Effect.suspend((): Effect.Effect<number, VersionConflict> => {
          const conflict = check(key, options)
          if (conflict !== undefined) return Effect.fail(conflict)
          const version = ++versions
          records.set(key, { text, version })
          changed(key)
          return Effect.succeed(version)
        }),
      remove: (key, options) =>
        Effect.suspend((): Effect.Effect<boolean, VersionConflict> => {
          const conflict = check(key, options)
          if (conflict !== undefined) return Effect.fail(conflict)
          const removed = records.delete(key)
          if (removed) changed(key)
          return Effect.succeed(removed)
        }),
      lock: (key, options) => locks.acquire(key, options.lease, options),
      awaitChange
    }
  })
