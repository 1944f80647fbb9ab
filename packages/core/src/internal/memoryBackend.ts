/**
 * The memory backend of `TokenStore`: records in a map, versions from one counter, locks from the
 * in-process lock table. Every operation is synchronous, so each is atomic on the Effect runtime.
 */
import * as Effect from "effect/Effect"
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
          return Effect.succeed(version)
        }),
      remove: (key, options) =>
        Effect.suspend((): Effect.Effect<boolean, VersionConflict> => {
          const conflict = check(key, options)
          if (conflict !== undefined) return Effect.fail(conflict)
          return Effect.succeed(records.delete(key))
        }),
      lock: (key, options) => locks.acquire(key, options.lease, options)
    }
  })
