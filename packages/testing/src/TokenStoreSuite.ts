/**
 * The conformance suite every `TokenStore` runs: the memory store, the file store, SQLite and
 * PostgreSQL all register the same tests with `run`, so they keep the same contract (SPEC S17–S21,
 * S26, S28, S29).
 *
 * The suite builds the store once, like a long-lived process would, and runs on the real clock with
 * short leases, so a store whose clock is a database's passes it too. Every test works on fresh
 * random keys, so a persistent store can run the suite again and again on the same database.
 *
 * The module imports `@effect/vitest`, so it is not re-exported from the package's index (importing
 * vitest outside a vitest run throws): import it as `@effect-oauth/testing/TokenStoreSuite`.
 *
 * @since 0.1.0
 */
import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import { afterAll, assert, beforeAll, describe, it as vitest } from "@effect/vitest"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import {
  assertConflict,
  assertCorrupt,
  assertNoSecrets,
  assertSameTokens,
  both,
  counterOf,
  counterTokens,
  freshKey,
  getSome,
  makeTokens,
  Other,
  pick,
  register
} from "./internal/tokenStoreSuite.js"

/**
 * @example
 * ```ts
 * import type * as TokenStoreSuite from "@effect-oauth/testing/TokenStoreSuite"
 *
 * // A store shared by two instances (a file, a database) whose waiters poll: give them more time.
 * const options: TokenStoreSuite.Options = { shared: true, promptMillis: 5000, leaseMillis: 300 }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options<R = never> {
  /**
   * Turns the record of `key` (the suite has just written one, with known secret tokens) into one
   * the store cannot decode, the way a torn write or a stray edit would. Keep the secrets in the
   * corrupt content where you can (truncate it, put a token where a date belongs): the suite checks
   * that no error shows them. Without it the corrupt-record tests are not registered.
   */
  readonly corrupt?: ((key: string) => Effect.Effect<void, unknown, TokenStore.TokenStore | R>) | undefined
  /** The short lease of the lease tests, in milliseconds (default 200). */
  readonly leaseMillis?: number | undefined
  /**
   * `true` when two builds of the layer share their records and locks (a file, a database): the
   * concurrency and lock tests then pit two instances against each other, like two processes.
   * Otherwise both sides of those tests use the one instance.
   */
  readonly shared?: boolean | undefined
  /**
   * How long a store may take to hand a released lock to a waiter, or to stop an interrupted waiter
   * (default 2 seconds). Stores that poll may need more.
   */
  readonly promptMillis?: number | undefined
  /**
   * `true` when a lock lives with its holder's database session (PostgreSQL): a holder whose instance
   * died frees its locks at once, not after their lease (S45).
   */
  readonly sessionLocks?: boolean | undefined
  /** Whether waiters of two instances are served in arrival order (S47); default `true`. */
  readonly fair?: boolean | undefined
}

/**
 * Registers the conformance tests of a `TokenStore` under `describe(name)`. Call it at the top
 * level of a test file:
 *
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import * as TokenStoreSuite from "@effect-oauth/testing/TokenStoreSuite"
 *
 * TokenStoreSuite.run("memory", TokenStore.layerMemory)
 * TokenStoreSuite.run("sqlite", layerSqlite, { shared: true, corrupt: (key) => writeGarbage(key) })
 * ```
 *
 * `R` is whatever else the layer provides that `corrupt` needs (a SQL client, a raw writer).
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 *
 * // In a test file (the module needs a vitest run, so it is imported there, not at the top of this example).
 * export const registerSuite = async () => {
 *   const TokenStoreSuite = await import("@effect-oauth/testing/TokenStoreSuite")
 *   TokenStoreSuite.run("memory", TokenStore.layerMemory)
 * }
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const run = <R = never>(
  name: string,
  layer: Layer.Layer<TokenStore.TokenStore | R, unknown>,
  options: Options<R> = {}
): void => {
  const lease = Duration.millis(options.leaseMillis ?? 200)
  const prompt = Duration.millis(options.promptMillis ?? 2000)
  const other: Layer.Layer<Other, unknown, TokenStore.TokenStore> = options.shared === true
    ? Layer.scoped(
      Other,
      Effect.map(Layer.build(Layer.fresh(layer)), (context) => Context.get(context, TokenStore.TokenStore))
    )
    : Layer.effect(Other, TokenStore.TokenStore)

  const shared = options.shared === true
  const sessionLocks = options.sessionLocks === true
  /** Another instance of the store, like another process, and how to kill it (its scope closes). */
  const spawn = Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(Layer.fresh(layer), scope)
    return { store: Context.get(context, TokenStore.TokenStore), kill: Scope.close(scope, Exit.void) }
  })

  describe(name, () => {
    // One instance for the whole suite, like a long-lived process; the real clock, no test services.
    const runtime = ManagedRuntime.make(Layer.provideMerge(other, layer))
    beforeAll(() => runtime.runPromise(Effect.void))
    afterAll(() => runtime.dispose())
    const it = {
      live: <A, E>(
        title: string,
        self: () => Effect.Effect<A, E, TokenStore.TokenStore | Other | R>,
        timeout?: number
      ): void => vitest.live(title, () => Effect.provide(self(), runtime), timeout)
    }

    describe("records", () => {
      it.live("a missing key reads as none", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("missing")
          assert.isTrue(Option.isNone(yield* store.get(key)))
        }))

      it.live("set then get returns every field of the token set, 16 KB tokens included (S15, S17)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("round-trip")
          const full = makeTokens({ big: true })
          const version = yield* store.set(key, full)
          const stored = yield* getSome(store, key)
          assert.strictEqual(stored.version, version)
          assertSameTokens(stored.tokens, full)

          const bare = new TokenSet.TokenSet({
            accessToken: Redacted.make(`at-${randomUUID()}`),
            tokenType: "Bearer",
            refreshToken: Option.none(),
            expiresAt: DateTime.unsafeMake(1_700_000_000_001),
            refreshExpiresAt: Option.none(),
            issuedAt: DateTime.unsafeMake(1_699_999_999_999),
            scopes: []
          })
          yield* store.set(key, bare)
          assertSameTokens((yield* getSome(store, key)).tokens, bare)
        }))

      it.live("the version grows with every write of a key (S20)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("versions")
          const first = yield* store.set(key, makeTokens())
          const second = yield* store.set(key, makeTokens())
          const third = yield* store.set(key, makeTokens(), { expectedVersion: second })
          assert.isTrue(first < second && second < third, `versions ${first}, ${second}, ${third} do not grow`)
          assert.strictEqual((yield* getSome(store, key)).version, third)
        }))

      it.live("a key removed and written again gets a version above any it had, so an old version never matches (S20)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("aba")
          const old = yield* store.set(key, makeTokens())
          assert.isTrue(yield* store.remove(key))
          const recreated = yield* store.set(key, makeTokens(), { expectedVersion: null })
          assert.isTrue(recreated > old, `version ${recreated} after removal is not above ${old}`)
          const conflict = yield* Effect.flip(store.set(key, makeTokens(), { expectedVersion: old }))
          assertConflict(conflict, key, old, recreated)
        }))

      it.live("records of different keys are independent (S19)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const one = freshKey("independent")
          const two = freshKey("independent")
          const tokens = makeTokens()
          yield* store.set(one, tokens)
          yield* store.set(two, makeTokens())
          assert.isTrue(yield* store.remove(two))
          assertSameTokens((yield* getSome(store, one)).tokens, tokens)
        }))
    })

    describe("compare-and-set (S20)", () => {
      it.live("expectedVersion null creates a missing key and fails with VersionConflict on an existing one", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("cas-null")
          const tokens = makeTokens()
          const version = yield* store.set(key, tokens, { expectedVersion: null })
          const conflict = yield* Effect.flip(store.set(key, makeTokens(), { expectedVersion: null }))
          assertConflict(conflict, key, null, version)
          const stored = yield* getSome(store, key)
          assert.strictEqual(stored.version, version)
          assertSameTokens(stored.tokens, tokens)
        }))

      it.live("a wrong expectedVersion fails with VersionConflict carrying expected and actual, and writes nothing", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("cas-wrong")
          const tokens = makeTokens()
          const version = yield* store.set(key, tokens)
          const wrong = version + 1000
          const conflict = yield* Effect.flip(store.set(key, makeTokens(), { expectedVersion: wrong }))
          assertConflict(conflict, key, wrong, version)
          const stored = yield* getSome(store, key)
          assert.strictEqual(stored.version, version)
          assertSameTokens(stored.tokens, tokens)
        }))

      it.live("an expectedVersion on a missing key fails with VersionConflict whose actual is null", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("cas-missing")
          const conflict = yield* Effect.flip(store.set(key, makeTokens(), { expectedVersion: 1 }))
          assertConflict(conflict, key, 1, null)
          assert.isTrue(Option.isNone(yield* store.get(key)))
        }))

      it.live("the right expectedVersion writes and returns a higher version", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("cas-right")
          const version = yield* store.set(key, makeTokens())
          const tokens = makeTokens()
          const next = yield* store.set(key, tokens, { expectedVersion: version })
          assert.isTrue(next > version)
          const stored = yield* getSome(store, key)
          assert.strictEqual(stored.version, next)
          assertSameTokens(stored.tokens, tokens)
        }))

      it.live("a write without expectedVersion is unconditional", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("unconditional")
          yield* store.set(key, makeTokens())
          const tokens = makeTokens()
          const version = yield* store.set(key, tokens, {})
          const stored = yield* getSome(store, key)
          assert.strictEqual(stored.version, version)
          assertSameTokens(stored.tokens, tokens)
        }))

      it.live("remove with the right version removes; with a wrong one it fails with VersionConflict and keeps the record", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("remove-cas")
          const tokens = makeTokens()
          const version = yield* store.set(key, tokens)
          const conflict = yield* Effect.flip(store.remove(key, { expectedVersion: version + 1000 }))
          assertConflict(conflict, key, version + 1000, version)
          const nullConflict = yield* Effect.flip(store.remove(key, { expectedVersion: null }))
          assertConflict(nullConflict, key, null, version)
          assertSameTokens((yield* getSome(store, key)).tokens, tokens)
          assert.isTrue(yield* store.remove(key, { expectedVersion: version }))
          assert.isTrue(Option.isNone(yield* store.get(key)))
        }))

      it.live("remove without expectedVersion removes; removing a missing key returns false", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("remove")
          yield* store.set(key, makeTokens())
          assert.isTrue(yield* store.remove(key))
          assert.isTrue(Option.isNone(yield* store.get(key)))
          assert.isFalse(yield* store.remove(key))
          assert.isFalse(yield* store.remove(freshKey("remove-never-written")))
          const conflict = yield* Effect.flip(store.remove(key, { expectedVersion: 7 }))
          assertConflict(conflict, key, 7, null)
        }))

      it.live("of N concurrent creates with expectedVersion null exactly one wins, from either instance", () =>
        Effect.gen(function*() {
          const stores = yield* both
          const key = freshKey("create-race")
          const n = 12
          const start = yield* Deferred.make<void>()
          const fibers = yield* Effect.forEach(
            Array.from({ length: n }, (_, i) => i),
            (i) =>
              Effect.fork(
                Effect.zipRight(
                  Deferred.await(start),
                  Effect.either(pick(stores, i).set(key, counterTokens(i), { expectedVersion: null }))
                )
              )
          )
          yield* Deferred.succeed(start, undefined)
          const results = yield* Fiber.joinAll(fibers)
          const winners = results.flatMap((result, i) => result._tag === "Right" ? [{ i, version: result.right }] : [])
          const [winner, ...others] = winners
          assert.isDefined(winner, "no create won")
          assert.strictEqual(others.length, 0, `${winners.length} creates won`)
          if (winner === undefined) return
          for (const result of results) {
            if (result._tag === "Left") assertConflict(result.left, key, null, winner.version)
          }
          const stored = yield* getSome(stores.b, key)
          assert.strictEqual(stored.version, winner.version)
          assert.strictEqual(counterOf(stored.tokens), winner.i)
        }))

      it.live(
        "N concurrent read-modify-write writers retrying on VersionConflict end with exactly N increments, no lost update",
        () =>
          Effect.gen(function*() {
            const stores = yield* both
            const key = freshKey("rmw")
            const n = 16
            const read = yield* Ref.make(0)
            const allRead = yield* Deferred.make<void>()
            // The first attempt of every writer reads before any writes, so all but one must conflict.
            const attempt = (store: TokenStore.Service, first: boolean) =>
              Effect.gen(function*() {
                const current = yield* store.get(key)
                if (first) {
                  if ((yield* Ref.updateAndGet(read, (count) => count + 1)) === n) {
                    yield* Deferred.succeed(allRead, undefined)
                  }
                  yield* Deferred.await(allRead)
                } else {
                  yield* Effect.yieldNow()
                }
                const count = Option.match(current, { onNone: () => 0, onSome: (record) => counterOf(record.tokens) })
                const expectedVersion = Option.match(current, {
                  onNone: () => null,
                  onSome: (record) => record.version
                })
                return yield* store.set(key, counterTokens(count + 1), { expectedVersion })
              })
            const writer = (i: number) =>
              Effect.gen(function*() {
                const store = pick(stores, i)
                let first = true
                let conflicts = 0
                while (true) {
                  const result = yield* Effect.either(attempt(store, first))
                  if (result._tag === "Right") return { version: result.right, wonFirst: first, conflicts }
                  if (result.left._tag !== "VersionConflict") return yield* result.left
                  first = false
                  conflicts++
                }
              })
            const results = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), writer, {
              concurrency: "unbounded"
            })
            const stored = yield* getSome(stores.a, key)
            assert.strictEqual(counterOf(stored.tokens), n, "an update was lost")
            assert.strictEqual(results.filter((result) => result.wonFirst).length, 1, "more than one first write won")
            const versions = results.map((result) => result.version)
            assert.strictEqual(new Set(versions).size, n, "two writes returned the same version")
            assert.strictEqual(stored.version, Math.max(...versions))
          }),
        20_000
      )
    })

    register({ it, lease, prompt, shared, sessionLocks, fair: options.fair !== false, spawn })

    describe("secrets and corrupt records (S26, S28, S29)", () => {
      it.live("a VersionConflict never shows the tokens (S26)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const key = freshKey("secret-conflict")
          const tokens = makeTokens()
          const version = yield* store.set(key, tokens)
          const onCreate = yield* Effect.flip(store.set(key, tokens, { expectedVersion: null }))
          const onWrong = yield* Effect.flip(store.set(key, tokens, { expectedVersion: version + 1 }))
          const onRemove = yield* Effect.flip(store.remove(key, { expectedVersion: version + 1 }))
          for (const error of [onCreate, onWrong, onRemove]) assertNoSecrets(error, tokens)
        }))

      const corrupt = options.corrupt
      if (corrupt !== undefined) {
        const writeCorrupt = (key: string) =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const tokens = makeTokens()
            yield* store.set(key, tokens)
            yield* Effect.orDie(corrupt(key))
            return tokens
          })

        it.live("a corrupt record is a TokenStoreError with reason Corrupt that names the key, not the content (S26, S28)", () =>
          Effect.gen(function*() {
            const { a, b } = yield* both
            const key = freshKey("corrupt")
            const tokens = yield* writeCorrupt(key)
            for (const store of [a, b]) {
              const error = yield* Effect.flip(store.get(key))
              assertCorrupt(error, key)
              assertNoSecrets(error, tokens)
            }
          }))

        it.live("a corrupt record is kept: it reads as corrupt again and a create does not overwrite it (S29)", () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const key = freshKey("corrupt-kept")
            const tokens = yield* writeCorrupt(key)
            assertCorrupt(yield* Effect.flip(store.get(key)), key)
            const create = yield* Effect.flip(store.set(key, makeTokens(), { expectedVersion: null }))
            assert.include(
              ["VersionConflict", "TokenStoreError"],
              create._tag,
              "a create treated a corrupt record as none"
            )
            assertNoSecrets(create, tokens)
            const removeIfMissing = yield* Effect.flip(store.remove(key, { expectedVersion: null }))
            assert.include(["VersionConflict", "TokenStoreError"], removeIfMissing._tag)
            const error = yield* Effect.flip(store.get(key))
            assertCorrupt(error, key)
          }))

        it.live("a corrupt record can be replaced by a new sign-in or removed on purpose (S29)", () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const replaced = freshKey("corrupt-replaced")
            yield* writeCorrupt(replaced)
            const tokens = makeTokens()
            const version = yield* store.set(replaced, tokens)
            const stored = yield* getSome(store, replaced)
            assert.strictEqual(stored.version, version)
            assertSameTokens(stored.tokens, tokens)

            const removed = freshKey("corrupt-removed")
            yield* writeCorrupt(removed)
            assert.isTrue(yield* store.remove(removed))
            assert.isTrue(Option.isNone(yield* store.get(removed)))
          }))
      }
    })
  })
}
