/**
 * AccessTokens against the hostile-server and cluster-fault rules (SPEC S33, S35, S43–S48).
 */
import { AccessTokens, OAuthClient, OAuthError, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { counters, layer, sibling, signedIn } from "./utils/accessTokens.js"

const storedRefreshToken = (key: string) =>
  Effect.gen(function*() {
    const store = yield* TokenStore.TokenStore
    const record = yield* store.get(key)
    return Option.flatMap(record, (r) => Option.map(r.tokens.refreshToken, Redacted.value))
  })

const refreshTokensSent = Effect.gen(function*() {
  const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
  return (yield* server.requests)
    .filter((r) => r.endpoint === "token" && r.form["grant_type"] === "refresh_token")
    .map((r) => r.form["refresh_token"] ?? "")
})

describe("AccessTokens: refresh window (S35)", () => {
  it.effect("a token that lives 30 s is refreshed after 15 s, never on every call (S35)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      for (let i = 0; i < 14; i++) {
        yield* TestClock.adjust(Duration.seconds(1))
        yield* tokens.get("ann")
        yield* tokens.get("ann")
      }
      assert.strictEqual((yield* counters).refreshToken, 0, "refreshed before half its lifetime")
      yield* TestClock.adjust(Duration.seconds(1))
      for (let i = 0; i < 10; i++) yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 1, "not exactly one refresh at half its lifetime")
      yield* TestClock.adjust(Duration.seconds(14))
      for (let i = 0; i < 10; i++) yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer({
      server: { accessTokenLifetime: Duration.seconds(30) },
      accessTokens: { refreshMode: "blocking" }
    }))))
})

describe("AccessTokens: nothing loses a refresh answer's tokens (S33)", () => {
  it.scoped("a store write that dies keeps the new tokens in memory as unpersisted and gives a typed error (S33)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      let dying = true
      const broken: TokenStore.Service = {
        ...store,
        // The possibly-spent mark (S44) is written before the request; the write of the answer dies.
        set: (key, tokens, options) =>
          dying && options?.refreshSentAt === undefined
            ? Effect.die("the store crashed")
            : store.set(key, tokens, options)
      }
      yield* signedIn("ann")
      const tokens = yield* sibling({ refreshMode: "blocking" }).pipe(
        Effect.provideService(TokenStore.TokenStore, broken)
      )
      yield* TestClock.adjust(Duration.hours(1))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.TokenStoreError)
      const kept = yield* tokens.get("ann")
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      assert.isTrue(yield* server.isAccessTokenValid(Redacted.value(kept)), "the new access token was dropped")
      assert.strictEqual((yield* counters).refreshToken, 1)
      // Once the store works again, the kept tokens are written back before the next refresh uses them.
      dying = false
      yield* TestClock.adjust(Duration.hours(1))
      yield* tokens.get("ann")
      assert.strictEqual((yield* counters).reusedRefreshTokens, 0)
      assert.strictEqual(new Set(yield* refreshTokensSent).size, 2)
      assert.isTrue(yield* server.isRefreshTokenValid(Option.getOrThrow(yield* storedRefreshToken("ann"))))
    }).pipe(Effect.provide(layer())))

  it.scoped("a defect after the refresh request went out is a typed outcome-unknown error, never a defect (S33)", () =>
    Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const dying = OAuthClient.OAuthClient.of({
        ...client,
        refresh: (tokens, options) => Effect.zipRight(client.refresh(tokens, options), Effect.die("decoding crashed"))
      })
      yield* signedIn("ann")
      const tokens = yield* sibling({ refreshMode: "blocking" }).pipe(
        Effect.provideService(OAuthClient.OAuthClient, dying)
      )
      yield* TestClock.adjust(Duration.hours(1))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))
})

const { Fault } = FakeAuthorizationServer

describe("AccessTokens: faults across a cluster (S44–S48)", () => {
  it.scoped("a lost refresh answer leaves the refresh token marked in the store; no process sends it again, the access token serves while valid, then ReauthorizationRequired(refresh-outcome-unknown) (S44)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const store = yield* TokenStore.TokenStore
      const tokens = yield* AccessTokens.AccessTokens
      const other = yield* sibling({ refreshMode: "blocking" })
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.minutes(59))
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
      const record = Option.getOrThrow(yield* store.get("ann"))
      assert.isDefined(record.refreshSentAt, "the store does not know the refresh token is possibly spent")
      // Both processes keep serving the current access token while it is valid, without a request.
      for (const process of [tokens, other]) {
        assert.strictEqual(Redacted.value(yield* process.get("ann")), Redacted.value(first.accessToken))
      }
      yield* TestClock.adjust(Duration.seconds(59))
      assert.strictEqual(Redacted.value(yield* other.get("ann")), Redacted.value(first.accessToken))
      yield* TestClock.adjust(Duration.seconds(1))
      for (const process of [tokens, other]) {
        const ended = yield* Effect.flip(process.get("ann"))
        assert.instanceOf(ended, OAuthError.ReauthorizationRequired)
        assert.strictEqual((ended as OAuthError.ReauthorizationRequired).reason, "refresh-outcome-unknown")
      }
      const c = yield* counters
      assert.strictEqual(c.refreshToken, 1, "the possibly-spent refresh token was sent again")
      assert.strictEqual(c.reusedRefreshTokens, 0)
    }).pipe(Effect.provide(layer({ accessTokens: { refreshMode: "blocking" } }))))

  it.effect("a holder that died mid-refresh leaves the mark, so the next holder never sends that refresh token (S44)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.minutes(59))
      // What a holder killed after writing the mark and sending the request leaves behind.
      const record = Option.getOrThrow(yield* store.get("ann"))
      const sentAt = yield* DateTime.now
      yield* store.set("ann", record.tokens, { expectedVersion: record.version, refreshSentAt: sentAt })
      const fresh = yield* sibling({ refreshMode: "blocking" })
      assert.strictEqual(Redacted.value(yield* fresh.get("ann")), Redacted.value(first.accessToken))
      assert.strictEqual(Redacted.value(yield* tokens.get("ann")), Redacted.value(first.accessToken))
      yield* TestClock.adjust(Duration.minutes(1))
      const ended = yield* Effect.flip(fresh.get("ann"))
      assert.strictEqual((ended as OAuthError.ReauthorizationRequired).reason, "refresh-outcome-unknown")
      assert.strictEqual((yield* counters).refreshToken, 0)
    }).pipe(Effect.scoped, Effect.provide(layer({ accessTokens: { refreshMode: "blocking" } }))))

  it.effect("only retryLostRefresh sends a possibly-spent refresh token once more, at once, and never a third time (S44)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      yield* TestClock.adjust(Duration.minutes(59))
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
      assert.strictEqual((yield* counters).refreshToken, 2)
      yield* TestClock.adjust(Duration.minutes(2))
      const ended = yield* Effect.flip(tokens.get("ann"))
      assert.strictEqual((ended as OAuthError.ReauthorizationRequired).reason, "refresh-outcome-unknown")
      assert.strictEqual((yield* counters).refreshToken, 2)
    }).pipe(Effect.provide(layer({
      server: { refreshGraceWindow: Duration.seconds(30) },
      accessTokens: { retryLostRefresh: true, refreshMode: "blocking" }
    }))))

  it.scoped("a holder keeps retrying the write of new tokens while it holds the lock, for up to one lease rather than a count (S45)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      let failures = 0
      const flaky: TokenStore.Service = {
        ...store,
        set: (key, tokens, options) =>
          Effect.suspend(() =>
            options?.refreshSentAt === undefined && failures < 30
              ? Effect.zipRight(
                Effect.sync(() => failures++),
                new OAuthError.TokenStoreError({ operation: "set", reason: "Unavailable", key })
              )
              : store.set(key, tokens, options)
          )
      }
      yield* signedIn("ann")
      const tokens = yield* sibling({ refreshMode: "blocking" }).pipe(
        Effect.provideService(TokenStore.TokenStore, flaky)
      )
      yield* TestClock.adjust(Duration.hours(1))
      const fiber = yield* Effect.fork(tokens.get("ann"))
      for (let i = 0; i < 60 && fiber.unsafePoll() === null; i++) yield* TestClock.adjust(Duration.seconds(1))
      const token = yield* Fiber.join(fiber)
      assert.strictEqual(failures, 30)
      const record = Option.getOrThrow(yield* store.get("ann"))
      assert.strictEqual(Redacted.value(record.tokens.accessToken), Redacted.value(token))
      assert.isUndefined(record.refreshSentAt, "the mark was not cleared with the new tokens")
    }).pipe(Effect.provide(layer())))

  it.scoped("a waiter that finds under the lock a record newer than the one that made it refresh adopts it while valid: one refresh per rotation (S46)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const a = yield* AccessTokens.AccessTokens
      const b = yield* sibling({ refreshMode: "blocking" })
      yield* signedIn("ann")
      yield* b.get("ann")
      // Tokens live 30 s and are due after 15 s; the answer takes 20 s, so the new tokens are due
      // already when they are stored.
      yield* TestClock.adjust(Duration.seconds(15))
      yield* server.inject(Fault.Delay({ endpoint: "token", duration: Duration.seconds(20) }))
      const first = yield* Effect.fork(a.get("ann"))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      const second = yield* Effect.fork(b.get("ann"))
      yield* TestClock.adjust(Duration.seconds(20))
      const [one, two] = [yield* Fiber.join(first), yield* Fiber.join(second)]
      assert.strictEqual(Redacted.value(one), Redacted.value(two))
      assert.strictEqual((yield* counters).refreshToken, 1, "the waiter refreshed the same rotation again")
    }).pipe(Effect.provide(layer({
      server: { accessTokenLifetime: Duration.seconds(30) },
      accessTokens: { refreshMode: "blocking" }
    }))))

  it.effect("the reauthorization metric counts keys that lost their grant, not calls that found it lost (S48)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      yield* signedIn("bob")
      const before = (yield* Metric.value(AccessTokens.reauthorizationCounter)).count
      yield* server.revokeAll("ann")
      yield* TestClock.adjust(Duration.hours(1))
      // Bob's refresh answer is lost (S44), Ann's grant was revoked (S21).
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      yield* Effect.flip(tokens.get("bob"))
      for (let i = 0; i < 20; i++) {
        yield* Effect.flip(tokens.get("ann"))
        yield* Effect.flip(tokens.get("bob"))
      }
      assert.strictEqual((yield* Metric.value(AccessTokens.reauthorizationCounter)).count, before + 2)
    }).pipe(Effect.provide(layer({ accessTokens: { refreshMode: "blocking" } }))))
})
