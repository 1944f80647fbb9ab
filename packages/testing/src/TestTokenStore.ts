/**
 * A fault-injecting wrapper around any `TokenStore`, for tests: make writes, reads or locks fail,
 * make them slow, make locks get lost, and count and log what the code under test asked of the store.
 *
 * `layer` wraps the `TokenStore` it finds in its context and provides the wrapped store in its place,
 * with the `TestTokenStore` controls next to it:
 *
 * ```ts
 * const layer = TestTokenStore.layer.pipe(Layer.provide(TokenStore.layerMemory))
 * // the same as TestTokenStore.layerMemory
 * ```
 *
 * Delays use `Effect.sleep`, so `TestClock.adjust` drives them in `it.effect` tests.
 *
 * @since 0.1.0
 */
import { TokenStoreError, type VersionConflict } from "@effect-oauth/core/OAuthError"
import type * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"

/**
 * How many of the next calls a fault hits: a count, or every call until `heal`.
 *
 * @example
 * ```ts
 * import { TestTokenStore } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The store is down for the rest of the test; then it comes back.
 * const outage = (times: TestTokenStore.Times) =>
 *   Effect.flatMap(TestTokenStore.TestTokenStore, (store) => store.failWrites(times))
 * const down = outage("always")
 * const heal = Effect.flatMap(TestTokenStore.TestTokenStore, (store) => store.heal)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Times = number | "always"

/**
 * Calls the store received (`gets`, `sets`, `removes`, `locks`, whatever their outcome) and how many
 * of them a fault made fail or lose their lock.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { TestTokenStore } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.TokenStore
 *   yield* store.get("user-1")
 *   const stats: TestTokenStore.Stats = yield* Effect.flatMap(TestTokenStore.TestTokenStore, (test) => test.stats)
 *   return stats.gets
 * }).pipe(Effect.provide(TestTokenStore.layerMemory))
 * assert.strictEqual(await Effect.runPromise(program), 1)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly gets: number
  readonly sets: number
  readonly removes: number
  readonly locks: number
  /** `set` and `remove` calls failed by `failWrites`. */
  readonly failedWrites: number
  /** `get` calls failed by `failReads`. */
  readonly failedReads: number
  /** `lock` calls failed by `failLocks`. */
  readonly failedLocks: number
  /** `lock` calls whose lock `loseLocks` let go at once. */
  readonly lostLocks: number
}

/**
 * One finished operation, in the order the operations finished. `version` is the version a `get`
 * read or a `set` wrote; `expectedVersion` is the compare-and-set condition of a `set` or `remove`;
 * `fence` is the fence of a `lock` or of the `unlock` that ended it. `outcome` is `"ok"`,
 * `"fault"` (injected here: a failure or a lost lock), `"conflict"` (a `VersionConflict` from the
 * store) or `"error"` (a `TokenStoreError` from the store). Interrupted operations are not logged.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { TestTokenStore } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.TokenStore
 *   yield* store.get("user-1")
 *   yield* store.remove("user-1")
 *   const log: ReadonlyArray<TestTokenStore.Operation> = yield* Effect.flatMap(
 *     TestTokenStore.TestTokenStore,
 *     (test) => test.log
 *   )
 *   return log.map((entry) => `${entry.op} ${entry.key} ${entry.outcome}`)
 * }).pipe(Effect.provide(TestTokenStore.layerMemory))
 * assert.deepStrictEqual(await Effect.runPromise(program), ["get user-1 ok", "remove user-1 ok"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Operation {
  readonly op: "get" | "set" | "remove" | "lock" | "unlock"
  readonly key: string
  readonly outcome: "ok" | "fault" | "conflict" | "error"
  readonly version?: number
  readonly expectedVersion?: number | null
  readonly fence?: number
  /** What a `remove` returned: whether there was a record. */
  readonly removed?: boolean
}

/**
 * The controls. Every fault applies to calls made after it is set, until its count runs out or
 * `heal` clears it; setting a fault again replaces it.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { TestTokenStore } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The next read fails; the one after works again.
 * const program = Effect.gen(function*() {
 *   const test: TestTokenStore.Service = yield* TestTokenStore.TestTokenStore
 *   const store = yield* TokenStore.TokenStore
 *   yield* test.failReads(1)
 *   const first = yield* Effect.either(store.get("user-1"))
 *   const second = yield* Effect.either(store.get("user-1"))
 *   return [first._tag, second._tag]
 * }).pipe(Effect.provide(TestTokenStore.layerMemory))
 * assert.deepStrictEqual(await Effect.runPromise(program), ["Left", "Right"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /**
   * `set` and `remove` fail with a `TokenStoreError` (reason `Unavailable`) without writing. With
   * `afterWrite: true` the write happens and then the caller gets the error, as when the connection
   * drops before the store's answer arrives.
   */
  readonly failWrites: (times: Times, options?: { readonly afterWrite?: boolean | undefined }) => Effect.Effect<void>
  /** `get` fails with a `TokenStoreError` (reason `Unavailable`) without reading. */
  readonly failReads: (times: Times) => Effect.Effect<void>
  /** `lock` fails with a `TokenStoreError` (reason `Unavailable`) without locking. */
  readonly failLocks: (times: Times) => Effect.Effect<void>
  /** Every `get` sleeps this long before it reads (`Duration.zero` to stop). */
  readonly slowReads: (duration: Duration.DurationInput) => Effect.Effect<void>
  /** Every `set` and `remove` sleeps this long before it writes (`Duration.zero` to stop). */
  readonly slowWrites: (duration: Duration.DurationInput) => Effect.Effect<void>
  /**
   * `lock` takes the store's lock and lets it go at once, as if its lease had run out, while telling
   * the caller it holds it: another locker can get in (SPEC S20).
   */
  readonly loseLocks: (times: Times) => Effect.Effect<void>
  /** Clears every fault and delay. */
  readonly heal: Effect.Effect<void>
  readonly stats: Effect.Effect<Stats>
  readonly log: Effect.Effect<ReadonlyArray<Operation>>
  /** Clears the counters and the log (not the faults). */
  readonly clearStats: Effect.Effect<void>
}

/**
 * @example
 * ```ts
 * import { TestTokenStore } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // Every write takes a second (drive it with `TestClock.adjust` in `it.effect`).
 * const slow = Effect.flatMap(TestTokenStore.TestTokenStore, (store) => store.slowWrites("1 second"))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class TestTokenStore extends Context.Tag("@effect-oauth/testing/TestTokenStore")<TestTokenStore, Service>() {}

interface Faults {
  readonly writes: Times
  readonly writesAfter: boolean
  readonly reads: Times
  readonly locks: Times
  readonly lose: Times
  readonly readDelay: Duration.Duration
  readonly writeDelay: Duration.Duration
}

const healthy: Faults = {
  writes: 0,
  writesAfter: false,
  reads: 0,
  locks: 0,
  lose: 0,
  readDelay: Duration.zero,
  writeDelay: Duration.zero
}

const noStats: Stats = {
  gets: 0,
  sets: 0,
  removes: 0,
  locks: 0,
  failedWrites: 0,
  failedReads: 0,
  failedLocks: 0,
  lostLocks: 0
}

const normalize = (times: Times): Times => times === "always" ? times : Math.max(0, Math.floor(times))

/** Uses one call of a fault: whether the call is hit, and what is left. */
const use = (times: Times): readonly [boolean, Times] =>
  times === "always" ? [true, times] : times > 0 ? [true, times - 1] : [false, 0]

/**
 * Wraps a store: the wrapped store and the controls of its faults.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { TestTokenStore } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // Wrap a store by hand, to give one part of the code under test a faulty one.
 * const program = Effect.gen(function*() {
 *   const { controls, store } = yield* TestTokenStore.make(yield* TokenStore.makeMemory)
 *   yield* controls.failWrites(1)
 *   const removed = yield* Effect.either(store.remove("user-1"))
 *   return [removed._tag, (yield* controls.stats).failedWrites] as const
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), ["Left", 1])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  underlying: TokenStore.Service
): Effect.Effect<{ readonly store: TokenStore.Service; readonly controls: Service }> =>
  Effect.gen(function*() {
    const faults = yield* Ref.make(healthy)
    const counters = yield* Ref.make(noStats)
    const entries = yield* Ref.make<ReadonlyArray<Operation>>([])

    const count = (field: keyof Stats) => Ref.update(counters, (stats) => ({ ...stats, [field]: stats[field] + 1 }))
    const record = (operation: Operation) => Ref.update(entries, (all) => [...all, operation])
    const hit = (field: "writes" | "reads" | "locks" | "lose") =>
      Ref.modify(faults, (current) => {
        const [hits, left] = use(current[field])
        return [hits, { ...current, [field]: left }] as const
      })
    const pause = (duration: Duration.Duration) =>
      Duration.greaterThan(duration, Duration.zero) ? Effect.sleep(duration) : Effect.void
    const unavailable = (operation: "get" | "set" | "remove" | "lock", key: string) =>
      new TokenStoreError({ operation, reason: "Unavailable", key, detail: "fault injected by TestTokenStore" })
    const failed = (error: { readonly _tag: "TokenStoreError" | "VersionConflict" }) =>
      error._tag === "VersionConflict" ? "conflict" as const : "error" as const
    const expected = (options: TokenStore.WriteOptions | undefined) =>
      options?.expectedVersion === undefined ? {} : { expectedVersion: options.expectedVersion }

    const get = (key: string) =>
      Effect.gen(function*() {
        yield* count("gets")
        const { readDelay } = yield* Ref.get(faults)
        if (yield* hit("reads")) {
          yield* count("failedReads")
          yield* record({ op: "get", key, outcome: "fault" })
          return yield* unavailable("get", key)
        }
        yield* pause(readDelay)
        return yield* underlying.get(key).pipe(
          Effect.tapBoth({
            onFailure: (error) => record({ op: "get", key, outcome: failed(error) }),
            onSuccess: (found) =>
              record({
                op: "get",
                key,
                outcome: "ok",
                ...Option.match(found, { onNone: () => ({}), onSome: (record) => ({ version: record.version }) })
              })
          })
        )
      })

    /** Runs a write with the write faults: the write's result and the log entry of a success. */
    const write = <A>(
      op: "set" | "remove",
      key: string,
      options: TokenStore.WriteOptions | undefined,
      run: Effect.Effect<A, TokenStoreError | VersionConflict>,
      describe: (result: A) => Partial<Operation>
    ) =>
      Effect.gen(function*() {
        yield* count(op === "set" ? "sets" : "removes")
        const { writeDelay, writesAfter } = yield* Ref.get(faults)
        const faulty = yield* hit("writes")
        if (faulty && !writesAfter) {
          yield* count("failedWrites")
          yield* record({ op, key, outcome: "fault", ...expected(options) })
          return yield* unavailable(op, key)
        }
        yield* pause(writeDelay)
        const result = yield* Effect.tapError(
          run,
          (error) => record({ op, key, outcome: failed(error), ...expected(options) })
        )
        if (faulty) {
          yield* count("failedWrites")
          yield* record({ op, key, outcome: "fault", ...expected(options), ...describe(result) })
          return yield* unavailable(op, key)
        }
        yield* record({ op, key, outcome: "ok", ...expected(options), ...describe(result) })
        return result
      })

    const lock = (key: string, options: { readonly lease: Duration.DurationInput }) =>
      Effect.gen(function*() {
        yield* count("locks")
        if (yield* hit("locks")) {
          yield* count("failedLocks")
          yield* record({ op: "lock", key, outcome: "fault" })
          return yield* unavailable("lock", key)
        }
        if (yield* hit("lose")) {
          const lost = yield* Effect.scoped(underlying.lock(key, options))
          yield* count("lostLocks")
          yield* record({ op: "lock", key, outcome: "fault", fence: lost.fence })
          return lost
        }
        // Registered before the lock, so it runs after the store's release.
        const held: { fence: number | undefined } = { fence: undefined }
        yield* Effect.addFinalizer(() =>
          held.fence === undefined ? Effect.void : record({ op: "unlock", key, outcome: "ok", fence: held.fence })
        )
        const acquired = yield* underlying.lock(key, options)
        held.fence = acquired.fence
        yield* record({ op: "lock", key, outcome: "ok", fence: acquired.fence })
        return acquired
      })

    const store: TokenStore.Service = {
      get,
      set: (key: string, tokens: TokenSet.TokenSet, options?: TokenStore.WriteOptions) =>
        write("set", key, options, underlying.set(key, tokens, options), (version) => ({ version })),
      remove: (key: string, options?: TokenStore.WriteOptions) =>
        write("remove", key, options, underlying.remove(key, options), (removed) => ({ removed })),
      lock,
      ...(underlying.awaitChange === undefined ? {} : { awaitChange: underlying.awaitChange })
    }

    const controls: Service = {
      failWrites: (times, options) =>
        Ref.update(faults, (current) => ({
          ...current,
          writes: normalize(times),
          writesAfter: options?.afterWrite === true
        })),
      failReads: (times) => Ref.update(faults, (current) => ({ ...current, reads: normalize(times) })),
      failLocks: (times) => Ref.update(faults, (current) => ({ ...current, locks: normalize(times) })),
      slowReads: (duration) => Ref.update(faults, (current) => ({ ...current, readDelay: Duration.decode(duration) })),
      slowWrites: (duration) =>
        Ref.update(faults, (current) => ({ ...current, writeDelay: Duration.decode(duration) })),
      loseLocks: (times) => Ref.update(faults, (current) => ({ ...current, lose: normalize(times) })),
      heal: Ref.set(faults, healthy),
      stats: Ref.get(counters),
      log: Ref.get(entries),
      clearStats: Effect.zipRight(Ref.set(counters, noStats), Ref.set(entries, []))
    }

    return { store, controls }
  })

/**
 * Wraps the `TokenStore` of its context and provides the wrapped store in its place, with the
 * controls: `TestTokenStore.layer.pipe(Layer.provide(TokenStore.layerMemory))`.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { TestTokenStore } from "@effect-oauth/testing"
 * import { Layer } from "effect"
 *
 * // Any store can be wrapped: here the memory one (the same as `TestTokenStore.layerMemory`).
 * const StoreLive: Layer.Layer<TokenStore.TokenStore | TestTokenStore.TestTokenStore> = TestTokenStore.layer.pipe(
 *   Layer.provide(TokenStore.layerMemory)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<TokenStore.TokenStore | TestTokenStore, never, TokenStore.TokenStore> = Layer
  .effectContext(
    Effect.gen(function*() {
      const { controls, store } = yield* make(yield* TokenStore.TokenStore)
      return Context.make(TokenStore.TokenStore, store).pipe(Context.add(TestTokenStore, controls))
    })
  )

/**
 * The memory store, wrapped.
 *
 * @example
 * ```ts
 * import { AccessTokens } from "@effect-oauth/core"
 * import { OAuthTest, TestTokenStore } from "@effect-oauth/testing"
 * import { Layer } from "effect"
 *
 * // `AccessTokens` over a store whose faults the test controls.
 * const TestLive = AccessTokens.layer().pipe(
 *   Layer.provideMerge(TestTokenStore.layerMemory),
 *   Layer.provideMerge(OAuthTest.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore.TokenStore | TestTokenStore> = layer.pipe(
  Layer.provide(TokenStore.layerMemory)
)
