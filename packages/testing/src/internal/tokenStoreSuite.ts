/**
 * The pieces of the `TokenStore` conformance suite (`TokenStoreSuite`): the second instance of a
 * shared store, helpers, and the lock tests (SPEC S19, S20, S45, S47).
 *
 * @internal
 */
import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import { assert, describe } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { inspect } from "node:util"

/** The test registrar and the settings of one suite run. @internal */
export interface SuiteContext {
  readonly it: {
    readonly live: <A, E>(
      title: string,
      self: () => Effect.Effect<A, E, TokenStore.TokenStore | Other>,
      timeout?: number
    ) => void
  }
  readonly lease: Duration.Duration
  readonly prompt: Duration.Duration
  readonly shared: boolean
  readonly sessionLocks: boolean
  readonly fair: boolean
  readonly spawn: Effect.Effect<
    { readonly store: TokenStore.Service; readonly kill: Effect.Effect<void> },
    unknown
  >
}

/**
 * The same store, built a second time when the store is `shared`.
 */
export class Other extends Context.Tag("@effect-oauth/testing/TokenStoreSuite/Other")<Other, TokenStore.Service>() {}

/** The lease of locks that the tests release by closing their scope. @internal */
export const longLease = Duration.seconds(30)

/** Registers the lock tests (S19, S20, S45, S47). @internal */
export const register = (context: SuiteContext): void => {
  const { fair, it, lease, prompt, sessionLocks, shared, spawn } = context
  describe("the lock (S19, S20)", () => {
    it.live("a second locker waits until the first one's scope closes, then gets a higher fence", () =>
      Effect.gen(function*() {
        const { a, b } = yield* both
        const key = freshKey("lock-exclusive")
        const events = yield* Ref.make<ReadonlyArray<string>>([])
        const record = (event: string) => Ref.update(events, (all) => [...all, event])
        const holder = yield* Scope.make()
        const first = yield* Scope.extend(a.lock(key, { lease: longLease }), holder)
        assert.strictEqual(first.key, key)
        yield* record("first acquired")
        const second = yield* Effect.fork(
          Effect.scoped(Effect.tap(b.lock(key, { lease: longLease }), () => record("second acquired")))
        )
        yield* Effect.sleep(Duration.millis(100))
        assert.isTrue(Option.isNone(yield* Fiber.poll(second)), "the second locker got a held lock")
        yield* record("first released")
        yield* Scope.close(holder, Exit.void)
        const lock = yield* Fiber.join(second).pipe(
          within(prompt, "the second locker did not get the released lock in time")
        )
        assert.isTrue(lock.fence > first.fence, `fence ${lock.fence} is not above ${first.fence}`)
        assert.deepStrictEqual(yield* Ref.get(events), ["first acquired", "first released", "second acquired"])
      }))

    it.live("holders never overlap: a shared counter never sees two holders", () =>
      Effect.gen(function*() {
        const stores = yield* both
        const key = freshKey("lock-counter")
        const holders = yield* Ref.make(0)
        const most = yield* Ref.make(0)
        const entries = yield* Ref.make(0)
        const critical = (i: number) =>
          Effect.scoped(Effect.gen(function*() {
            yield* pick(stores, i).lock(key, { lease: longLease })
            const now = yield* Ref.updateAndGet(holders, (count) => count + 1)
            yield* Ref.update(most, (max) => Math.max(max, now))
            yield* Ref.update(entries, (count) => count + 1)
            yield* Effect.sleep(Duration.millis(2))
            yield* Ref.update(holders, (count) => count - 1)
          }))
        yield* Effect.forEach(
          Array.from({ length: 30 }, (_, i) => i),
          critical,
          { concurrency: "unbounded", discard: true }
        )
        assert.strictEqual(yield* Ref.get(most), 1, "two holders held the lock at once")
        assert.strictEqual(yield* Ref.get(entries), 30)
      }))

    it.live("fences grow with every acquisition of a key", () =>
      Effect.gen(function*() {
        const stores = yield* both
        const key = freshKey("lock-fences")
        const fences = yield* Effect.forEach(
          [0, 1, 2, 3],
          (i) => Effect.scoped(Effect.map(pick(stores, i).lock(key, { lease: longLease }), (lock) => lock.fence))
        )
        const sorted = [...fences].sort((x, y) => x - y)
        assert.deepStrictEqual(fences, sorted, `fences ${fences.join(", ")} do not grow`)
        assert.strictEqual(new Set(fences).size, fences.length, `fences ${fences.join(", ")} repeat`)
      }))

    it.live("locks of different keys do not block each other", () =>
      Effect.gen(function*() {
        const { a, b } = yield* both
        const one = freshKey("lock-independent")
        const two = freshKey("lock-independent")
        const holder = yield* Scope.make()
        yield* Scope.extend(a.lock(one, { lease: longLease }), holder)
        const lock = yield* Effect.scoped(b.lock(two, { lease: longLease })).pipe(
          within(prompt, "a lock of another key blocked")
        )
        assert.strictEqual(lock.key, two)
        yield* Scope.close(holder, Exit.void)
      }))

    {
      it.live("a holder that never releases blocks others only until its lease runs out (a lock dies with its holder)", () =>
        Effect.gen(function*() {
          const { a, b } = yield* both
          const key = freshKey("lock-lease")
          // The holder's scope is never closed: it stands for a process killed while holding the lock.
          const dead = yield* Scope.make()
          const start = yield* Clock.currentTimeMillis
          const first = yield* Scope.extend(a.lock(key, { lease }), dead)
          const second = yield* Effect.fork(Effect.scoped(Effect.zip(
            b.lock(key, { lease: longLease }),
            Clock.currentTimeMillis
          )))
          const [lock, gotAt] = yield* Fiber.join(second).pipe(
            within(Duration.sum(lease, prompt), "the lock stayed taken after its holder's lease ran out")
          )
          // The lease began after `start`, so it cannot have run out before `start + lease`.
          const waited = gotAt - start
          assert.isTrue(waited >= Duration.toMillis(lease) - 5, `the lock was taken ${waited} ms into its lease`)
          assert.isTrue(lock.fence > first.fence)
        }))

      it.live("a late release by a holder whose lease ran out does not free the next holder's lock", () =>
        Effect.gen(function*() {
          const { a, b } = yield* both
          const key = freshKey("lock-stale-release")
          const stale = yield* Scope.make()
          yield* Scope.extend(a.lock(key, { lease }), stale)
          const current = yield* Scope.make()
          yield* Scope.extend(b.lock(key, { lease: longLease }), current).pipe(
            within(Duration.sum(lease, prompt), "the lock stayed taken after its holder's lease ran out")
          )
          yield* Scope.close(stale, Exit.void)
          const third = yield* Effect.fork(Effect.scoped(a.lock(key, { lease: longLease })))
          yield* Effect.sleep(Duration.millis(100))
          assert.isTrue(Option.isNone(yield* Fiber.poll(third)), "the stale release freed the current holder's lock")
          yield* Scope.close(current, Exit.void)
          yield* Fiber.join(third).pipe(within(prompt, "the released lock was not handed on"))
        }))
      it.live("a holder that is alive keeps its lock past its lease: with renew the lease is renewed while its scope is open (S45)", () =>
        Effect.gen(function*() {
          const { a, b } = yield* both
          const key = freshKey("lock-renewed")
          const holder = yield* Scope.make()
          const first = yield* Scope.extend(a.lock(key, { lease, renew: true }), holder)
          const waiter = yield* Effect.fork(Effect.scoped(b.lock(key, { lease: longLease })))
          yield* Effect.sleep(Duration.times(lease, 4))
          assert.isTrue(
            Option.isNone(yield* Fiber.poll(waiter)),
            "a live holder lost its lock when its first lease ran out"
          )
          yield* Scope.close(holder, Exit.void)
          const next = yield* Fiber.join(waiter).pipe(within(prompt, "the released lock was not handed on"))
          assert.isTrue(next.fence > first.fence)
        }))
    }

    if (shared) {
      if (sessionLocks) {
        it.live("a holder whose process died frees its lock at once, long before its lease runs out (S45)", () =>
          Effect.gen(function*() {
            const { b } = yield* both
            const key = freshKey("lock-session")
            const victim = yield* spawn
            // The lock's scope is never closed: the process dies holding it.
            const first = yield* Scope.extend(
              victim.store.lock(key, { lease: longLease, renew: true }),
              yield* Scope.make()
            )
            const waiter = yield* Effect.fork(Effect.scoped(b.lock(key, { lease: longLease })))
            yield* Effect.sleep(Duration.millis(100))
            assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)), "a waiter got a held lock")
            yield* victim.kill
            const lock = yield* Fiber.join(waiter).pipe(
              within(Duration.seconds(1), "a dead holder's lock was not freed within a second")
            )
            assert.isTrue(lock.fence > first.fence)
          }))
      } else {
        it.live("a holder whose process died blocks others only until its lease runs out (a lock dies with its holder, S20)", () =>
          Effect.gen(function*() {
            const { b } = yield* both
            const key = freshKey("lock-lease")
            const victim = yield* spawn
            const start = yield* Clock.currentTimeMillis
            // It renewed its lease while it lived.
            const first = yield* Scope.extend(victim.store.lock(key, { lease, renew: true }), yield* Scope.make())
            yield* victim.kill
            const [lock, gotAt] = yield* Effect.scoped(Effect.zip(
              b.lock(key, { lease: longLease }),
              Clock.currentTimeMillis
            )).pipe(within(Duration.sum(lease, prompt), "the lock stayed taken after its holder's lease ran out"))
            const waited = gotAt - start
            assert.isTrue(waited >= Duration.toMillis(lease) - 5, `the lock was taken ${waited} ms into its lease`)
            assert.isTrue(lock.fence > first.fence)
          }))
      }

      it.live("a late release by a dead holder does not free the next holder's lock", () =>
        Effect.gen(function*() {
          const { a, b } = yield* both
          const key = freshKey("lock-stale-release")
          const victim = yield* spawn
          const stale = yield* Scope.make()
          yield* Scope.extend(victim.store.lock(key, { lease, renew: true }), stale)
          yield* victim.kill
          const current = yield* Scope.make()
          yield* Scope.extend(b.lock(key, { lease: longLease }), current).pipe(
            within(Duration.sum(lease, prompt), "the lock stayed taken after its holder's lease ran out")
          )
          yield* Scope.close(stale, Exit.void)
          const third = yield* Effect.fork(Effect.scoped(a.lock(key, { lease: longLease })))
          yield* Effect.sleep(Duration.millis(100))
          assert.isTrue(Option.isNone(yield* Fiber.poll(third)), "the stale release freed the current holder's lock")
          yield* Scope.close(current, Exit.void)
          yield* Fiber.join(third).pipe(within(prompt, "the released lock was not handed on"))
        }))
    }

    if (fair) {
      it.live(
        "waiters of two instances get the lock in the order they arrived, none overtaken (S47)",
        () =>
          Effect.gen(function*() {
            const stores = yield* both
            const key = freshKey("lock-fair")
            const holder = yield* Scope.make()
            yield* Scope.extend(stores.a.lock(key, { lease: longLease }), holder)
            const order = yield* Ref.make<ReadonlyArray<number>>([])
            const fibers: Array<Fiber.RuntimeFiber<void, TokenStoreErrorOf>> = []
            for (let i = 0; i < 6; i++) {
              fibers.push(
                yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
                  yield* pick(stores, i + 1).lock(key, { lease: longLease })
                  yield* Ref.update(order, (all) => [...all, i])
                  yield* Effect.sleep(Duration.millis(20))
                })))
              )
              // Far enough apart that arrival order is well defined.
              yield* Effect.sleep(Duration.millis(60))
            }
            yield* Scope.close(holder, Exit.void)
            yield* Fiber.joinAll(fibers).pipe(
              within(Duration.sum(prompt, Duration.seconds(3)), "not every waiter got the lock")
            )
            assert.deepStrictEqual(
              yield* Ref.get(order),
              [0, 1, 2, 3, 4, 5],
              "a later waiter overtook an earlier one"
            )
          }),
        20_000
      )
    }

    it.live("a waiter interrupted while waiting stops at once and leaves no stuck state", () =>
      Effect.gen(function*() {
        const { a, b } = yield* both
        const key = freshKey("lock-interrupt")
        const holder = yield* Scope.make()
        const first = yield* Scope.extend(a.lock(key, { lease: longLease }), holder)
        const waiter = yield* Effect.fork(Effect.scoped(b.lock(key, { lease: longLease })))
        yield* Effect.sleep(Duration.millis(50))
        yield* Fiber.interrupt(waiter).pipe(within(prompt, "an interrupted waiter kept waiting for the lock"))
        assert.isTrue(Exit.isInterrupted(yield* Fiber.await(waiter)))
        // A waiter bounded by a timeout gives up the same way.
        const bounded = yield* Effect.scoped(b.lock(key, { lease: longLease })).pipe(
          Effect.timeout(Duration.millis(50)),
          Effect.option,
          within(prompt, "a lock attempt under Effect.timeout did not stop")
        )
        assert.isTrue(Option.isNone(bounded))
        yield* Scope.close(holder, Exit.void)
        const next = yield* Effect.scoped(a.lock(key, { lease: longLease })).pipe(
          within(prompt, "the lock stayed taken after its holder released it")
        )
        assert.isTrue(next.fence > first.fence)
        yield* Effect.scoped(b.lock(key, { lease: longLease })).pipe(
          within(prompt, "the lock stayed taken after its holder released it")
        )
      }))

    it.live("50 concurrent waiters each get the lock exactly once", () =>
      Effect.gen(function*() {
        const stores = yield* both
        const key = freshKey("lock-crowd")
        const n = 50
        const holder = yield* Scope.make()
        const first = yield* Scope.extend(stores.a.lock(key, { lease: longLease }), holder)
        const holders = yield* Ref.make(0)
        const most = yield* Ref.make(0)
        const got = yield* Ref.make<ReadonlyArray<{ readonly i: number; readonly fence: number }>>([])
        const waiter = (i: number) =>
          Effect.scoped(Effect.gen(function*() {
            const lock = yield* pick(stores, i).lock(key, { lease: longLease })
            const now = yield* Ref.updateAndGet(holders, (count) => count + 1)
            yield* Ref.update(most, (max) => Math.max(max, now))
            yield* Ref.update(got, (all) => [...all, { i, fence: lock.fence }])
            yield* Effect.yieldNow()
            yield* Ref.update(holders, (count) => count - 1)
          }))
        const fibers = yield* Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) => Effect.fork(waiter(i)))
        yield* Effect.sleep(Duration.millis(50))
        assert.strictEqual((yield* Ref.get(got)).length, 0, "a waiter got a held lock")
        yield* Scope.close(holder, Exit.void)
        yield* Fiber.joinAll(fibers).pipe(
          within(Duration.sum(prompt, Duration.seconds(3)), "not every waiter got the lock")
        )
        const all = yield* Ref.get(got)
        assert.deepStrictEqual(
          all.map((entry) => entry.i).sort((x, y) => x - y),
          Array.from({ length: n }, (_, i) => i)
        )
        assert.strictEqual(yield* Ref.get(most), 1, "two waiters held the lock at once")
        const fences = all.map((entry) => entry.fence)
        assert.strictEqual(new Set(fences).size, n, "two holders got the same fence")
        assert.isTrue(fences.every((fence) => fence > first.fence))
      }), 20_000)
  })
}

export type TokenStoreErrorOf = OAuthError.TokenStoreError

export const both = Effect.all({ a: TokenStore.TokenStore, b: Other })

export const pick = (stores: { readonly a: TokenStore.Service; readonly b: TokenStore.Service }, i: number) =>
  i % 2 === 0 ? stores.a : stores.b

export const within =
  (duration: Duration.DurationInput, failure: string) =>
  <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.flatMap(
      Effect.timeoutOption(effect, duration),
      (result) => Option.isSome(result) ? Effect.succeed(result.value) : Effect.dieMessage(failure)
    )

export const freshKey = (label: string): string => `effect-oauth-suite/${label}/${randomUUID()}`

export const getSome = (store: TokenStore.Service, key: string) =>
  Effect.flatMap(
    store.get(key),
    (record) =>
      Option.isSome(record)
        ? Effect.succeed(record.value)
        : Effect.dieMessage(`expected a record for ${key}, found none`)
  )

export const makeTokens = (options: { readonly big?: boolean } = {}): TokenSet.TokenSet => {
  const id = randomUUID()
  // Characters that need escaping in JSON, SQL or URLs, and 16 KB values (SPEC S15).
  const filler = options.big === true ? "x".repeat(16 * 1024) : ""
  return new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-${id}-+/=\\"'%~._-${filler}`),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`rt-${id}-;--'"\\n%00-${filler}`)),
    expiresAt: DateTime.unsafeMake(1_760_000_123_456),
    refreshExpiresAt: Option.some(DateTime.unsafeMake(1_762_592_123_457)),
    issuedAt: DateTime.unsafeMake(1_759_996_523_458),
    scopes: ["api:agent:message:*", "openid", "ümlaut scope"]
  })
}

export const counterTokens = (count: number): TokenSet.TokenSet =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-${randomUUID()}`),
    tokenType: "Bearer",
    refreshToken: Option.none(),
    expiresAt: DateTime.unsafeMake(1_760_000_000_000),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(1_759_996_400_000),
    scopes: [`count:${count}`]
  })

export const counterOf = (tokens: TokenSet.TokenSet): number => Number((tokens.scopes[0] ?? "count:NaN").slice(6))

export const assertSameTokens = (actual: TokenSet.TokenSet, expected: TokenSet.TokenSet): void => {
  assert.instanceOf(actual, TokenSet.TokenSet)
  assert.strictEqual(Redacted.value(actual.accessToken), Redacted.value(expected.accessToken))
  assert.strictEqual(actual.tokenType, expected.tokenType)
  assert.deepStrictEqual(
    Option.getOrUndefined(Option.map(actual.refreshToken, Redacted.value)),
    Option.getOrUndefined(Option.map(expected.refreshToken, Redacted.value))
  )
  assert.strictEqual(DateTime.toEpochMillis(actual.expiresAt), DateTime.toEpochMillis(expected.expiresAt))
  assert.deepStrictEqual(
    Option.getOrUndefined(Option.map(actual.refreshExpiresAt, DateTime.toEpochMillis)),
    Option.getOrUndefined(Option.map(expected.refreshExpiresAt, DateTime.toEpochMillis))
  )
  assert.strictEqual(DateTime.toEpochMillis(actual.issuedAt), DateTime.toEpochMillis(expected.issuedAt))
  assert.deepStrictEqual([...actual.scopes], [...expected.scopes])
}

export const assertConflict = (
  error: OAuthError.TokenStoreError | OAuthError.VersionConflict,
  key: string,
  expected: number | null,
  actual: number | null
): void => {
  assert.instanceOf(error, OAuthError.VersionConflict, `expected a VersionConflict, got ${error._tag}`)
  if (error._tag !== "VersionConflict") return
  assert.strictEqual(error.key, key)
  assert.strictEqual(error.expected, expected)
  assert.strictEqual(error.actual, actual)
}

export const assertCorrupt = (error: OAuthError.TokenStoreError, key: string): void => {
  assert.instanceOf(error, OAuthError.TokenStoreError)
  assert.strictEqual(error.reason, "Corrupt")
  assert.strictEqual(error.operation, "get")
  assert.strictEqual(error.key, key)
}

export const assertNoSecrets = (error: unknown, tokens: TokenSet.TokenSet): void => {
  const secrets = [tokens.accessToken, ...Option.toArray(tokens.refreshToken)].map((token) =>
    // the distinctive part of the token, so a truncated copy is caught too
    Redacted.value(token).slice(0, 40)
  )
  const renderings = [
    String(error),
    JSON.stringify(error),
    inspect(error, { depth: 10 }),
    Cause.pretty(Cause.fail(error)),
    error instanceof Error ? error.message : ""
  ]
  for (const rendering of renderings) {
    for (const secret of secrets) {
      assert.isFalse(rendering.includes(secret), "an error shows a token")
    }
  }
}
