/**
 * AccessTokens waiting for a key's lock held by another process (SPEC S44, S46, S47): a fresh record
 * that process stored is adopted at the store's change signal, without waiting for the lock; anything
 * else waits for the lock, as before.
 */
import { AccessTokens, TokenSet, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
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
import { counters, layer, sibling, signedIn } from "./utils/accessTokens.js"

const { Fault } = FakeAuthorizationServer

const settle = Effect.yieldNow().pipe(Effect.repeatN(50))

/**
 * Another process holds Ann's lock; this one (`b`, its cache loaded unless `cold`) asks for her token
 * after it expired and waits. Returns the waiter, the holder's lock scope and the store.
 */
const waitingFor = (cold: boolean) =>
  Effect.gen(function*() {
    const store = yield* TokenStore.TokenStore
    const b = yield* sibling({ refreshMode: "blocking" })
    yield* signedIn("ann")
    if (!cold) yield* b.get("ann")
    yield* TestClock.adjust(Duration.hours(1))
    const holder = yield* Scope.make()
    yield* Scope.extend(store.lock("ann", { lease: "10 minutes" }), holder)
    const waiter = yield* Effect.fork(b.get("ann"))
    yield* settle
    assert.isNull(waiter.unsafePoll(), "the waiter did not wait for the lock")
    return { holder, store, waiter }
  })
const waiting = waitingFor(false)

describe("AccessTokens: adopting without the lock (S46, S47)", () => {
  it.scoped("a waiter adopts what another process stored without waiting for the lock (S46, S47)", () =>
    Effect.gen(function*() {
      const { holder, store, waiter } = yield* waiting
      // The holder stores new tokens and keeps the lock: the waiter takes them all the same.
      const fresh = yield* OAuthTest.signIn("ann")
      yield* store.set("ann", fresh)
      yield* settle
      const exit = waiter.unsafePoll()
      assert.isNotNull(exit, "the waiter kept waiting for the lock")
      assert.strictEqual(Redacted.value(yield* Fiber.join(waiter)), Redacted.value(fresh.accessToken))
      assert.strictEqual((yield* counters).refreshToken, 0, "the waiter sent a refresh token")
      yield* Scope.close(holder, Exit.void)
      // The interrupted lock wait left nothing behind: the next one takes the lock at once.
      const next = yield* Effect.fork(Effect.scoped(store.lock("ann", { lease: "10 minutes" })))
      yield* settle
      assert.isNotNull(next.unsafePoll(), "the interrupted waiter left a place in line")
    }).pipe(Effect.provide(layer())))

  it.scoped("a waiter with nothing cached for the key adopts a fresh record another process stored without waiting for the lock (S46, S47)", () =>
    Effect.gen(function*() {
      const { holder, store, waiter } = yield* waitingFor(true)
      const fresh = yield* OAuthTest.signIn("ann")
      yield* store.set("ann", fresh)
      yield* settle
      assert.isNotNull(waiter.unsafePoll(), "the waiter kept waiting for the lock")
      assert.strictEqual(Redacted.value(yield* Fiber.join(waiter)), Redacted.value(fresh.accessToken))
      assert.strictEqual((yield* counters).refreshToken, 0, "the waiter sent a refresh token")
      yield* Scope.close(holder, Exit.void)
    }).pipe(Effect.provide(layer())))

  it.scoped("a waiter does not adopt a possibly-spent record without the lock, and waits for it (S44, S46)", () =>
    Effect.gen(function*() {
      const { holder, store, waiter } = yield* waiting
      const fresh = yield* OAuthTest.signIn("ann")
      yield* store.set("ann", fresh, { refreshSentAt: yield* DateTime.now })
      yield* settle
      assert.isNull(waiter.unsafePoll(), "a possibly-spent record was adopted without the lock")
      yield* Scope.close(holder, Exit.void)
      // Under the lock, as before: its access token serves, its refresh token is never sent (S44).
      assert.strictEqual(Redacted.value(yield* Fiber.join(waiter)), Redacted.value(fresh.accessToken))
      assert.strictEqual((yield* counters).refreshToken, 0)
    }).pipe(Effect.provide(layer())))

  it.scoped("a waiter does not adopt a record due for refresh without the lock, and waits for it (S24, S46)", () =>
    Effect.gen(function*() {
      const { holder, store, waiter } = yield* waiting
      const now = yield* DateTime.now
      const signed = yield* OAuthTest.signIn("ann")
      // Valid for 30 s more, inside the refresh window: due.
      const dueTokens = new TokenSet.TokenSet({
        ...signed,
        issuedAt: DateTime.subtract(now, { hours: 1 }),
        expiresAt: DateTime.add(now, { seconds: 30 })
      })
      yield* store.set("ann", dueTokens)
      yield* settle
      assert.isNull(waiter.unsafePoll(), "a due record was adopted without the lock")
      yield* Scope.close(holder, Exit.void)
      // Under the lock, as before: newer than the one that made it refresh, and valid (S46).
      assert.strictEqual(Redacted.value(yield* Fiber.join(waiter)), Redacted.value(signed.accessToken))
      assert.strictEqual((yield* counters).refreshToken, 0)
    }).pipe(Effect.provide(layer())))

  it.scoped("at a true expiry, a second process waiting for the first's refresh adopts its tokens: one token request (S19, S46, S47)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const a = yield* AccessTokens.AccessTokens
      const b = yield* sibling({ refreshMode: "blocking" })
      yield* signedIn("ann")
      yield* b.get("ann")
      yield* TestClock.adjust(Duration.hours(1))
      yield* server.inject(Fault.Delay({ endpoint: "token", duration: Duration.seconds(5) }))
      const first = yield* Effect.fork(a.get("ann"))
      yield* settle
      const second = yield* Effect.fork(b.get("ann"))
      yield* settle
      assert.isNull(second.unsafePoll())
      yield* TestClock.adjust(Duration.seconds(5))
      const [one, two] = [yield* Fiber.join(first), yield* Fiber.join(second)]
      assert.strictEqual(Redacted.value(one), Redacted.value(two))
      assert.strictEqual((yield* counters).refreshToken, 1, "the waiter refreshed the same rotation again")
      const stored = Option.getOrThrow(yield* (yield* TokenStore.TokenStore).get("ann"))
      assert.strictEqual(Redacted.value(stored.tokens.accessToken), Redacted.value(one))
    }).pipe(Effect.provide(layer({ accessTokens: { refreshMode: "blocking" } }))))
})
