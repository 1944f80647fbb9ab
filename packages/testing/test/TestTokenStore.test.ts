import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as TestTokenStore from "../src/TestTokenStore.js"
import * as TokenStoreSuite from "../src/TokenStoreSuite.js"

// Without faults the wrapper is a store like any other.
TokenStoreSuite.run("TestTokenStore over the memory store, without faults", TestTokenStore.layerMemory)

const tokens = (access: string) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(access),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`${access}-refresh`)),
    expiresAt: DateTime.unsafeMake(1_760_000_000_000),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(1_759_996_400_000),
    scopes: ["api:agent:message:*"]
  })

const accessOf = (found: Option.Option<TokenStore.Versioned>) =>
  Option.getOrUndefined(Option.map(found, (record) => Redacted.value(record.tokens.accessToken)))

const assertUnavailable = (
  error: OAuthError.TokenStoreError | OAuthError.VersionConflict,
  operation: OAuthError.TokenStoreError["operation"]
) => {
  assert.instanceOf(error, OAuthError.TokenStoreError)
  if (error._tag !== "TokenStoreError") return
  assert.strictEqual(error.reason, "Unavailable")
  assert.strictEqual(error.operation, operation)
  assert.strictEqual(error.key, "user-1")
}

const setup = Effect.all({ store: TokenStore.TokenStore, test: TestTokenStore.TestTokenStore })

describe("TestTokenStore", () => {
  it.effect("without faults it passes every call through, counting and logging each", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      const version = yield* store.set("user-1", tokens("at-1"), { expectedVersion: null })
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-1")
      const lock = yield* Effect.scoped(store.lock("user-1", { lease: Duration.seconds(30) }))
      assert.isTrue(yield* store.remove("user-1", { expectedVersion: version }))
      assert.isTrue(Option.isNone(yield* store.get("user-1")))
      assert.deepStrictEqual(yield* test.stats, {
        gets: 2,
        sets: 1,
        removes: 1,
        locks: 1,
        failedWrites: 0,
        failedReads: 0,
        failedLocks: 0,
        lostLocks: 0
      })
      assert.deepStrictEqual(yield* test.log, [
        { op: "set", key: "user-1", outcome: "ok", expectedVersion: null, version },
        { op: "get", key: "user-1", outcome: "ok", version },
        { op: "lock", key: "user-1", outcome: "ok", fence: lock.fence },
        { op: "unlock", key: "user-1", outcome: "ok", fence: lock.fence },
        { op: "remove", key: "user-1", outcome: "ok", expectedVersion: version, removed: true },
        { op: "get", key: "user-1", outcome: "ok" }
      ])
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("failWrites(n) fails the next n writes with Unavailable without writing, then lets writes through", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* store.set("user-1", tokens("at-1"))
      yield* test.failWrites(2)
      assertUnavailable(yield* Effect.flip(store.set("user-1", tokens("at-2"))), "set")
      assertUnavailable(yield* Effect.flip(store.remove("user-1")), "remove")
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-1")
      yield* store.set("user-1", tokens("at-3"))
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-3")
      const stats = yield* test.stats
      assert.strictEqual(stats.sets, 3)
      assert.strictEqual(stats.removes, 1)
      assert.strictEqual(stats.failedWrites, 2)
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("failWrites(\"always\") fails every write until heal", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* test.failWrites("always")
      for (let i = 0; i < 5; i++) {
        assertUnavailable(yield* Effect.flip(store.set("user-1", tokens(`at-${i}`))), "set")
      }
      assert.isTrue(Option.isNone(yield* store.get("user-1")))
      yield* test.heal
      yield* store.set("user-1", tokens("at-healed"))
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-healed")
      assert.strictEqual((yield* test.stats).failedWrites, 5)
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("failWrites with afterWrite stores the write, then reports Unavailable, as when the answer is lost", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      const before = yield* store.set("user-1", tokens("at-1"))
      yield* test.failWrites(1, { afterWrite: true })
      assertUnavailable(yield* Effect.flip(store.set("user-1", tokens("at-2"), { expectedVersion: before })), "set")
      const stored = yield* store.get("user-1")
      assert.strictEqual(accessOf(stored), "at-2")
      // A retry of the same compare-and-set now meets its own write.
      const retry = yield* Effect.flip(store.set("user-1", tokens("at-2"), { expectedVersion: before }))
      assert.instanceOf(retry, OAuthError.VersionConflict)
      const log = yield* test.log
      assert.deepStrictEqual(log.slice(1).map((entry) => entry.outcome), ["fault", "ok", "conflict"])
      assert.strictEqual(log[1]?.version, Option.getOrUndefined(Option.map(stored, (record) => record.version)))
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("failReads(n) fails the next n reads with Unavailable", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* store.set("user-1", tokens("at-1"))
      yield* test.failReads(1)
      assertUnavailable(yield* Effect.flip(store.get("user-1")), "get")
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-1")
      const stats = yield* test.stats
      assert.strictEqual(stats.gets, 2)
      assert.strictEqual(stats.failedReads, 1)
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("failLocks(n) fails the next n lock calls with Unavailable", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* test.failLocks(1)
      assertUnavailable(yield* Effect.flip(Effect.scoped(store.lock("user-1", { lease: "30 seconds" }))), "lock")
      const lock = yield* Effect.scoped(store.lock("user-1", { lease: "30 seconds" }))
      assert.strictEqual(lock.key, "user-1")
      assert.strictEqual((yield* test.stats).failedLocks, 1)
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("slowReads delays every read on the TestClock", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* store.set("user-1", tokens("at-1"))
      yield* test.slowReads("1 second")
      const read = yield* Effect.fork(store.get("user-1"))
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* Fiber.poll(read)))
      yield* TestClock.adjust("1 millis")
      assert.strictEqual(accessOf(yield* Fiber.join(read)), "at-1")
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("slowWrites delays the write itself: nothing is stored before the delay, nothing if interrupted", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* test.slowWrites("1 second")
      const write = yield* Effect.fork(store.set("user-1", tokens("at-1")))
      yield* TestClock.adjust("999 millis")
      assert.isTrue(Option.isNone(yield* store.get("user-1")))
      yield* TestClock.adjust("1 millis")
      yield* Fiber.join(write)
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-1")

      const interrupted = yield* Effect.fork(store.set("user-1", tokens("at-2")))
      yield* TestClock.adjust("500 millis")
      yield* Fiber.interrupt(interrupted)
      yield* TestClock.adjust("1 second")
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-1")
      assert.isUndefined((yield* test.log).find((entry) => entry.op === "set" && entry.outcome !== "ok"))
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("loseLocks(1) reports a lock its holder does not hold, so another locker gets in at once (S20)", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* test.loseLocks(1)
      const lost = yield* Scope.make()
      const first = yield* Scope.extend(store.lock("user-1", { lease: "30 seconds" }), lost)
      const holder = yield* Scope.make()
      const second = yield* Scope.extend(store.lock("user-1", { lease: "30 seconds" }), holder)
      assert.isTrue(second.fence > first.fence)
      // The fault is used up: the lock excludes again.
      const third = yield* Effect.fork(Effect.scoped(store.lock("user-1", { lease: "30 seconds" })))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.poll(third)))
      yield* Scope.close(holder, Exit.void)
      yield* Fiber.join(third)
      yield* Scope.close(lost, Exit.void)
      assert.strictEqual((yield* test.stats).lostLocks, 1)
      assert.deepStrictEqual((yield* test.log).map((entry) => [entry.op, entry.outcome]), [
        ["lock", "fault"],
        ["lock", "ok"],
        ["unlock", "ok"],
        ["lock", "ok"],
        ["unlock", "ok"]
      ])
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("heal clears every fault and delay", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* test.failWrites("always")
      yield* test.failReads("always")
      yield* test.failLocks("always")
      yield* test.loseLocks("always")
      yield* test.slowReads("1 hour")
      yield* test.slowWrites("1 hour")
      yield* test.heal
      // No TestClock.adjust: a leftover delay would block here.
      yield* store.set("user-1", tokens("at-1"))
      assert.strictEqual(accessOf(yield* store.get("user-1")), "at-1")
      const holder = yield* Scope.make()
      yield* Scope.extend(store.lock("user-1", { lease: "30 seconds" }), holder)
      const waiter = yield* Effect.fork(Effect.scoped(store.lock("user-1", { lease: "30 seconds" })))
      yield* TestClock.adjust("1 second")
      assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)), "the lock was lost after heal")
      yield* Scope.close(holder, Exit.void)
      yield* Fiber.join(waiter)
      const stats = yield* test.stats
      assert.strictEqual(stats.failedWrites + stats.failedReads + stats.failedLocks + stats.lostLocks, 0)
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("the log shows a refresh under the lock in order: lock, read, compare-and-set write, unlock", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      const first = yield* store.set("user-1", tokens("at-1"))
      yield* test.clearStats
      const { fence, next } = yield* Effect.scoped(Effect.gen(function*() {
        const lock = yield* store.lock("user-1", { lease: "30 seconds" })
        const current = yield* store.get("user-1")
        const expectedVersion = Option.getOrUndefined(Option.map(current, (record) => record.version))
        const next = yield* store.set("user-1", tokens("at-2"), { expectedVersion: expectedVersion ?? null })
        return { fence: lock.fence, next }
      }))
      assert.deepStrictEqual(yield* test.log, [
        { op: "lock", key: "user-1", outcome: "ok", fence },
        { op: "get", key: "user-1", outcome: "ok", version: first },
        { op: "set", key: "user-1", outcome: "ok", expectedVersion: first, version: next },
        { op: "unlock", key: "user-1", outcome: "ok", fence }
      ])
      assert.strictEqual((yield* test.stats).sets, 1)
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))

  it.effect("conflicts and the store's own errors are logged with their outcome", () =>
    Effect.gen(function*() {
      const backend = yield* TokenStore.makeMemoryBackend
      const { controls, store } = yield* TestTokenStore.make(TokenStore.make(backend))
      const version = yield* store.set("user-1", tokens("at-1"))
      yield* Effect.flip(store.set("user-1", tokens("at-2"), { expectedVersion: null }))
      yield* Effect.flip(store.remove("user-1", { expectedVersion: version + 1 }))
      yield* backend.set("user-1", "{\"torn")
      const corrupt = yield* Effect.flip(store.get("user-1"))
      assert.strictEqual(corrupt.reason, "Corrupt")
      assert.deepStrictEqual((yield* controls.log).map((entry) => [entry.op, entry.outcome]), [
        ["set", "ok"],
        ["set", "conflict"],
        ["remove", "conflict"],
        ["get", "error"]
      ])
    }))

  it.effect("clearStats resets the counters and the log but keeps the faults", () =>
    Effect.gen(function*() {
      const { store, test } = yield* setup
      yield* test.failReads("always")
      yield* Effect.flip(store.get("user-1"))
      yield* test.clearStats
      assert.deepStrictEqual(yield* test.log, [])
      assert.strictEqual((yield* test.stats).gets, 0)
      assertUnavailable(yield* Effect.flip(store.get("user-1")), "get")
      assert.strictEqual((yield* test.stats).failedReads, 1)
    }).pipe(Effect.provide(TestTokenStore.layerMemory)))
})
