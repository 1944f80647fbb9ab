/**
 * Where token sets live between requests and processes, keyed by a caller-chosen key (a user id, a
 * session id). Every record has a version for compare-and-set, and every key has a lock with a lease
 * (SPEC S20): a lock dies with its holder once the lease runs out, so a killed process never blocks
 * the others for longer than the lease.
 *
 * The memory store lives here; file, SQLite and PostgreSQL stores live in other packages and pass the
 * same conformance suite (`@effect-oauth/testing`'s `TokenStoreSuite`).
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import { describeParseError, TokenStoreError, VersionConflict } from "./OAuthError.js"
import * as TokenSet from "./TokenSet.js"

/**
 * A stored token set with its version. Versions grow with every write of the key.
 *
 * @since 0.1.0
 * @category models
 */
export interface Versioned {
  readonly tokens: TokenSet.TokenSet
  readonly version: number
}

/**
 * `expectedVersion`: absent — write unconditionally; `null` — only if the key has no record; a number —
 * only if the record is at that version.
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions {
  readonly expectedVersion?: number | null | undefined
}

/**
 * A held lock. `fence` grows with every acquisition of the key, so a write can tell an old holder
 * from the current one.
 *
 * @since 0.1.0
 * @category models
 */
export interface Lock {
  readonly key: string
  readonly fence: number
  /** When the lease runs out, in epoch milliseconds of the store's clock. */
  readonly expiresAt: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly get: (key: string) => Effect.Effect<Option.Option<Versioned>, TokenStoreError>
  /** Writes the record and returns its new version. */
  readonly set: (
    key: string,
    tokens: TokenSet.TokenSet,
    options?: WriteOptions
  ) => Effect.Effect<number, TokenStoreError | VersionConflict>
  /** Removes the record; `false` when there was none. */
  readonly remove: (key: string, options?: WriteOptions) => Effect.Effect<boolean, TokenStoreError | VersionConflict>
  /**
   * Waits for the key's lock and holds it until the scope closes or the lease runs out, whichever
   * comes first.
   */
  readonly lock: (
    key: string,
    options: { readonly lease: Duration.DurationInput }
  ) => Effect.Effect<Lock, TokenStoreError, Scope.Scope>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@effect-oauth/core/TokenStore")<TokenStore, Service>() {}

/**
 * Encodes a token set as the stored JSON text.
 *
 * @since 0.1.0
 * @category utils
 */
export const encodeRecord = (tokens: TokenSet.TokenSet): Effect.Effect<string> =>
  Effect.orDie(Schema.encode(TokenSet.StoredJson)(tokens))

/**
 * Decodes stored JSON text; a corrupt record is a `TokenStoreError` that names the key and the
 * problem's place, never the content (SPEC S28).
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeRecord = (key: string, text: string): Effect.Effect<TokenSet.TokenSet, TokenStoreError> =>
  Schema.decode(TokenSet.StoredJson)(text).pipe(
    Effect.catchTag(
      "ParseError",
      (error) =>
        new TokenStoreError({ operation: "get", reason: "Corrupt", key, detail: describeParseError(error, "record") })
    )
  )

interface LockState {
  holder: { readonly fence: number; readonly expiresAt: number } | undefined
  readonly waiters: Set<Deferred.Deferred<void>>
}

/**
 * A lock table on Effect's `Clock`, for stores whose records live in this process. Idle keys leave
 * no state behind. Exposed for store implementations that need an in-process lock.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLockTable = Effect.gen(function*() {
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

  const tryTake = (key: string, lease: number, now: number, waiter: Deferred.Deferred<void>) => {
    let state = table.get(key)
    if (state === undefined) {
      state = { holder: undefined, waiters: new Set() }
      table.set(key, state)
    }
    if (state.holder === undefined || state.holder.expiresAt <= now) {
      state.holder = { fence: ++fences, expiresAt: now + lease }
      return { _tag: "Taken" as const, lock: { key, ...state.holder } }
    }
    state.waiters.add(waiter)
    return { _tag: "Wait" as const, until: state.holder.expiresAt, state }
  }

  const acquire = (key: string, lease: Duration.DurationInput): Effect.Effect<Lock, never, Scope.Scope> => {
    const millis = Duration.toMillis(lease)
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
              return Effect.as(Scope.addFinalizer(scope, release(key, outcome.lock.fence)), outcome.lock)
            }
            return restore(
              Deferred.await(waiter).pipe(
                Effect.raceFirst(Effect.sleep(Duration.millis(Math.max(0, outcome.until - now)))),
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

/**
 * An in-memory store: records are kept as encoded JSON, exactly as a persistent store would keep them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<
  Service & { readonly unsafeSetRaw: (key: string, text: string) => Effect.Effect<void> }
> = Effect.gen(function*() {
  // Every operation below is synchronous, so each is atomic on the Effect runtime.
  const records = new Map<string, { readonly text: string; readonly version: number }>()
  const locks = yield* makeLockTable
  let versions = 0

  const check = (key: string, options: WriteOptions | undefined): VersionConflict | undefined => {
    const expected = options?.expectedVersion
    const actual = records.get(key)?.version ?? null
    return expected === undefined || expected === actual ? undefined : new VersionConflict({ key, expected, actual })
  }

  const get = (key: string) =>
    Effect.suspend(() => {
      const record = records.get(key)
      return record === undefined
        ? Effect.succeed(Option.none<Versioned>())
        : Effect.map(decodeRecord(key, record.text), (tokens) => Option.some({ tokens, version: record.version }))
    })

  const set = (key: string, tokens: TokenSet.TokenSet, options?: WriteOptions) =>
    Effect.flatMap(encodeRecord(tokens), (text) =>
      Effect.suspend((): Effect.Effect<number, VersionConflict> => {
        const conflict = check(key, options)
        if (conflict !== undefined) return Effect.fail(conflict)
        const version = ++versions
        records.set(key, { text, version })
        return Effect.succeed(version)
      }))

  const remove = (key: string, options?: WriteOptions) =>
    Effect.suspend((): Effect.Effect<boolean, VersionConflict> => {
      const conflict = check(key, options)
      if (conflict !== undefined) return Effect.fail(conflict)
      return Effect.succeed(records.delete(key))
    })

  return {
    get,
    set,
    remove,
    lock: (key, options) => locks.acquire(key, options.lease),
    unsafeSetRaw: (key, text) => Effect.sync(() => void records.set(key, { text, version: ++versions }))
  }
})

/**
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore> = Layer.effect(TokenStore, makeMemory)
