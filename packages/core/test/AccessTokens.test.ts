import { AccessTokens, OAuthClient, OAuthError, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { counters, layer, sibling, signedIn } from "./utils/accessTokens.js"

const { Fault } = FakeAuthorizationServer

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

describe("AccessTokens", () => {
  it.effect("a fresh token is answered from memory, with no store read and no token request", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const saved = yield* signedIn("ann")
      for (let i = 0; i < 100; i++) {
        assert.strictEqual(Redacted.value(yield* tokens.get("ann")), Redacted.value(saved.accessToken))
      }
      assert.strictEqual((yield* counters).refreshToken, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("a new refresh token replaces the old one in the store, and the old one is never sent again (S17)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      for (let round = 0; round < 4; round++) {
        yield* TestClock.adjust(Duration.hours(1))
        yield* tokens.get("ann")
      }
      const sent = yield* refreshTokensSent
      assert.strictEqual(sent.length, 4)
      assert.strictEqual(new Set(sent).size, 4)
      assert.strictEqual(sent[0], Redacted.value(Option.getOrThrow(first.refreshToken)))
      const stored = Option.getOrThrow(yield* storedRefreshToken("ann"))
      assert.notInclude(sent, stored, "the stored refresh token is the newest one, not yet used")
      assert.strictEqual((yield* counters).reusedRefreshTokens, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("a refresh answer without a refresh token keeps the old one (S17)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      yield* tokens.get("ann")
      yield* TestClock.adjust(Duration.hours(1))
      yield* tokens.get("ann")
      const original = Redacted.value(Option.getOrThrow(first.refreshToken))
      assert.deepStrictEqual(yield* refreshTokensSent, [original, original])
      assert.deepStrictEqual(yield* storedRefreshToken("ann"), Option.some(original))
    }).pipe(Effect.provide(layer({ server: { rotateRefreshTokens: false } }))))

  it.effect("new tokens are stored before any caller receives the new access token (S18)", () =>
    Effect.gen(function*() {
      const gate = yield* Deferred.make<void>()
      const scope = yield* Scope.make()
      const store = yield* TokenStore.TokenStore
      const gated: TokenStore.Service = {
        ...store,
        // The possibly-spent mark (S44) is written before the request; the new tokens wait for the gate.
        set: (key, tokens, options) =>
          options?.refreshSentAt !== undefined
            ? store.set(key, tokens, options)
            : Effect.zipRight(Deferred.await(gate), store.set(key, tokens, options))
      }
      const first = yield* signedIn("ann")
      const tokens = yield* sibling().pipe(
        Effect.provideService(TokenStore.TokenStore, gated),
        Scope.extend(scope)
      )
      yield* TestClock.adjust(Duration.hours(1))
      const fiber = yield* Effect.fork(tokens.get("ann"))
      yield* Effect.yieldNow().pipe(Effect.repeatN(50))
      assert.isNull(fiber.unsafePoll(), "no caller gets the token before the write")
      assert.strictEqual((yield* counters).refreshToken, 1)
      assert.deepStrictEqual(
        yield* storedRefreshToken("ann"),
        Option.some(Redacted.value(Option.getOrThrow(first.refreshToken)))
      )
      yield* Deferred.succeed(gate, undefined)
      const received = yield* Fiber.join(fiber)
      const record = Option.getOrThrow(yield* store.get("ann"))
      assert.strictEqual(Redacted.value(record.tokens.accessToken), Redacted.value(received))
    }).pipe(Effect.provide(layer())))

  it.scoped("a failing store write is retried; if it keeps failing the caller gets a typed error and the tokens stay in memory (S18)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      let failures = 0
      let failing = true
      const flaky: TokenStore.Service = {
        ...store,
        // The possibly-spent mark (S44) is written before the request; writes of the new tokens fail.
        set: (key, tokens, options) =>
          failing && options?.refreshSentAt === undefined
            ? Effect.zipRight(
              Effect.sync(() => failures++),
              new OAuthError.TokenStoreError({ operation: "set", reason: "Unavailable", key })
            )
            : store.set(key, tokens, options)
      }
      yield* signedIn("ann")
      // Five tries; by default writes are retried for up to one lock lease (S45).
      const writeRetry = Schedule.exponential(Duration.millis(50)).pipe(Schedule.intersect(Schedule.recurs(4)))
      const tokens = yield* sibling({ writeRetry }).pipe(Effect.provideService(TokenStore.TokenStore, flaky))
      yield* TestClock.adjust(Duration.hours(1))
      const fiber = yield* Effect.fork(Effect.flip(tokens.get("ann")))
      yield* TestClock.adjust(Duration.seconds(10))
      const error = yield* Fiber.join(fiber)
      assert.instanceOf(error, OAuthError.TokenStoreError)
      assert.strictEqual(failures, 5, "one try and four retries")
      // The new tokens were kept: they are answered from memory without a new token request.
      const kept = yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 1)
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      assert.isTrue(yield* server.isAccessTokenValid(Redacted.value(kept)))
      // An hour later the next refresh first stores them, then sends the newest refresh token.
      failing = false
      yield* TestClock.adjust(Duration.hours(1))
      yield* tokens.get("ann")
      assert.strictEqual((yield* counters).reusedRefreshTokens, 0)
      const sent = yield* refreshTokensSent
      assert.strictEqual(new Set(sent).size, 2)
      assert.isTrue(yield* server.isRefreshTokenValid(Option.getOrThrow(yield* storedRefreshToken("ann"))))
    }).pipe(Effect.provide(layer())))

  it.effect("N concurrent callers at expiry cause exactly one token request and get the same token (S19)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      const results = yield* Effect.all(Array.from({ length: 500 }, () => tokens.get("ann")), {
        concurrency: "unbounded"
      })
      assert.strictEqual((yield* counters).refreshToken, 1)
      assert.strictEqual(new Set(results.map(Redacted.value)).size, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("the single flight is per key: two keys refresh side by side (S19)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* signedIn("ann")
      yield* signedIn("bob")
      yield* TestClock.adjust(Duration.hours(1))
      yield* server.inject(Fault.Delay({ endpoint: "token", duration: Duration.seconds(5) }))
      const slow = yield* Effect.fork(tokens.get("ann"))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      yield* tokens.get("bob")
      assert.isNull(slow.unsafePoll(), "bob did not wait for ann's slow refresh")
      yield* TestClock.adjust(Duration.seconds(5))
      yield* Fiber.join(slow)
      assert.strictEqual((yield* counters).refreshToken, 2)
    }).pipe(Effect.provide(layer())))

  it.scoped("processes sharing a store make one refresh per expiry; a waiter re-reads the store (S20)", () =>
    Effect.gen(function*() {
      const processes = yield* Effect.all(Array.from({ length: 4 }, () => sibling()))
      yield* signedIn("ann")
      for (let round = 0; round < 3; round++) {
        yield* TestClock.adjust(Duration.hours(1))
        const results = yield* Effect.all(
          processes.flatMap((p) => Array.from({ length: 25 }, () => p.get("ann"))),
          { concurrency: "unbounded" }
        )
        assert.strictEqual(new Set(results.map(Redacted.value)).size, 1)
      }
      const c = yield* counters
      assert.strictEqual(c.refreshToken, 3)
      assert.strictEqual(c.reusedRefreshTokens, 0)
    }).pipe(Effect.provide(layer())))

  it.effect("a lock whose holder died blocks the others only until its lease runs out (S20)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      // A holder that never releases: its scope is never closed.
      const dead = yield* Scope.make()
      yield* store.lock("ann", { lease: Duration.seconds(20) }).pipe(Scope.extend(dead))
      const fiber = yield* Effect.fork(tokens.get("ann"))
      yield* TestClock.adjust(Duration.seconds(19))
      assert.isNull(fiber.unsafePoll())
      yield* TestClock.adjust(Duration.seconds(1))
      yield* Fiber.join(fiber)
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("on invalid_grant the store is re-read once and a sibling's rotation is adopted (S21)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const oauth = yield* OAuthClient.OAuthClient
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      // Our refresh is slow; meanwhile a process that ignores the lock rotates the token and stores it.
      yield* server.inject(Fault.Delay({ endpoint: "token", duration: Duration.seconds(2) }))
      const fiber = yield* Effect.fork(tokens.get("ann"))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      const rotated = yield* oauth.refresh(first)
      yield* store.set("ann", rotated)
      yield* TestClock.adjust(Duration.seconds(2))
      const token = yield* Fiber.join(fiber)
      assert.strictEqual(Redacted.value(token), Redacted.value(rotated.accessToken))
      assert.strictEqual((yield* counters).refreshToken, 2)
      assert.isTrue(Option.isSome(yield* store.get("ann")))
    }).pipe(Effect.provide(layer({ server: { reuseRevokesFamily: false } }))))

  it.effect("on invalid_grant with no newer token stored, the key is cleared and re-authorization is required (S21)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      const before = (yield* Metric.value(AccessTokens.reauthorizationCounter)).count
      yield* server.revokeAll()
      yield* TestClock.adjust(Duration.hours(1))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).key, "ann")
      assert.isTrue(Option.isNone(yield* store.get("ann")))
      assert.strictEqual((yield* Metric.value(AccessTokens.reauthorizationCounter)).count, before + 1)
      const again = yield* Effect.flip(tokens.get("ann"))
      assert.strictEqual((again as OAuthError.ReauthorizationRequired).reason, "no-tokens")
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("a refresh whose answer was lost fails as outcome unknown and is not blindly retried (S22)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
      assert.strictEqual((yield* counters).refreshToken, 1)
      assert.deepStrictEqual(
        yield* storedRefreshToken("ann"),
        Option.some(Redacted.value(Option.getOrThrow(first.refreshToken)))
      )
    }).pipe(Effect.provide(layer())))

  it.effect("with a server grace window configured, a lost refresh is retried once (S22)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      yield* server.inject(Fault.CommitThenDrop({ endpoint: "token", grantType: "refresh_token" }))
      const token = yield* tokens.get("ann")
      assert.isTrue(yield* server.isAccessTokenValid(Redacted.value(token)))
      assert.strictEqual((yield* counters).refreshToken, 2)
      assert.isTrue(yield* server.isRefreshTokenValid(Option.getOrThrow(yield* storedRefreshToken("ann"))))
    }).pipe(Effect.provide(layer({
      server: { refreshGraceWindow: Duration.seconds(30) },
      accessTokens: { retryLostRefresh: true }
    }))))

  it.effect("a refresh in flight finishes and is stored when the caller that started it is interrupted (S23)", () =>
    Effect.gen(function*() {
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      yield* server.inject(Fault.Delay({ endpoint: "token", duration: Duration.seconds(5) }))
      const fiber = yield* Effect.fork(tokens.get("ann"))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      yield* Fiber.interrupt(fiber)
      yield* TestClock.adjust(Duration.seconds(5))
      yield* Effect.yieldNow().pipe(Effect.repeatN(20))
      const stored = Option.getOrThrow(yield* storedRefreshToken("ann"))
      assert.notStrictEqual(stored, Redacted.value(Option.getOrThrow(first.refreshToken)))
      assert.isTrue(yield* server.isRefreshTokenValid(stored))
      const token = yield* tokens.get("ann")
      assert.isTrue(yield* server.isAccessTokenValid(Redacted.value(token)))
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))

  it.effect("refresh starts the configured window before expiry, 60 seconds by default (S24)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      yield* TestClock.adjust(Duration.seconds(3600 - 61))
      yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 0)
      yield* TestClock.adjust(Duration.seconds(1))
      yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer({ accessTokens: { refreshMode: "blocking" } }))))

  it.effect("a custom refresh window applies (S24)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      yield* TestClock.adjust(Duration.minutes(54))
      yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 0)
      yield* TestClock.adjust(Duration.minutes(1))
      yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer({ accessTokens: { refreshWindow: Duration.minutes(5), refreshMode: "blocking" } }))))

  it.effect("a refresh token past its 30 days fails at once with re-authorization required, without a request (S24)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const store = yield* TokenStore.TokenStore
      yield* signedIn("ann")
      yield* TestClock.adjust(Duration.days(30))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-expired")
      assert.strictEqual((yield* counters).token, 1, "only the sign-in's exchange")
      assert.isTrue(Option.isNone(yield* store.get("ann")))
    }).pipe(Effect.provide(layer())))

  it.effect("signOut revokes the refresh token and removes the stored tokens (S30)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const store = yield* TokenStore.TokenStore
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      const first = yield* signedIn("ann")
      assert.strictEqual(yield* tokens.signOut("ann"), "revoked")
      assert.isTrue(Option.isNone(yield* store.get("ann")))
      assert.isFalse(yield* server.isAccessTokenValid(Redacted.value(first.accessToken)))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "no-tokens")
      assert.strictEqual(yield* tokens.signOut("ann"), "no-tokens")
    }).pipe(Effect.provide(layer())))

  it.effect("a failed revocation keeps the tokens so that sign-out can be tried again (S30)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const store = yield* TokenStore.TokenStore
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      yield* signedIn("ann")
      yield* server.inject(Fault.Status({ endpoint: "revoke", status: 400, body: "{\"error\":\"invalid_request\"}" }))
      const error = yield* Effect.flip(tokens.signOut("ann"))
      assert.strictEqual((error as OAuthError.ErrorResponse).error, "invalid_request")
      assert.isTrue(Option.isSome(yield* store.get("ann")))
      assert.strictEqual(yield* tokens.signOut("ann"), "revoked")
    }).pipe(Effect.provide(layer())))

  it.effect("spans name the key, never a token (S26)", () =>
    Effect.gen(function*() {
      const base = yield* Effect.tracer
      const spans: Array<Tracer.Span> = []
      const recording = Tracer.make({
        span: (...args) => {
          const span = base.span(...args)
          spans.push(span)
          return span
        },
        context: (f, fiber) => base.context(f, fiber)
      })
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      const next = yield* tokens.get("ann").pipe(Effect.withTracer(recording))
      yield* tokens.save("bob", first).pipe(Effect.withTracer(recording))
      const names = spans.map((span) => span.name)
      assert.includeMembers(names, [
        "AccessTokens.get",
        "AccessTokens.refresh",
        "AccessTokens.save",
        "OAuthClient.refresh"
      ])
      const secrets = [first.accessToken, next, ...Option.toArray(first.refreshToken)].map(Redacted.value)
      for (const span of spans) {
        if (span.name.startsWith("AccessTokens.")) assert.isTrue(span.attributes.has("oauth.key"), span.name)
        const text = JSON.stringify(Array.from(span.attributes.entries()), (_, v) =>
          typeof v === "bigint" ? String(v) : v)
        for (const secret of secrets) {
          assert.notInclude(text, secret)
        }
      }
    }).pipe(Effect.provide(layer())))

  it.effect("the cache keeps at most cacheCapacity keys; an evicted key is read from the store again", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      let reads = 0
      const counting: TokenStore.Service = {
        ...store,
        get: (key) => Effect.zipRight(Effect.sync(() => reads++), store.get(key))
      }
      const small = yield* sibling({ cacheCapacity: 2 }).pipe(Effect.provideService(TokenStore.TokenStore, counting))
      for (const key of ["a", "b", "c"]) yield* signedIn(key)
      for (const key of ["a", "b", "c"]) yield* small.get(key)
      assert.strictEqual(reads, 3)
      yield* small.get("c")
      yield* small.get("b")
      assert.strictEqual(reads, 3, "b and c are cached")
      yield* small.get("a")
      assert.strictEqual(reads, 4, "a was evicted and read again")
    }).pipe(Effect.scoped, Effect.provide(layer())))

  it.effect("refreshes are counted in a metric", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      const before = (yield* Metric.value(AccessTokens.refreshCounter)).count
      yield* TestClock.adjust(Duration.hours(1))
      yield* tokens.get("ann")
      assert.strictEqual((yield* Metric.value(AccessTokens.refreshCounter)).count, before + 1)
    }).pipe(Effect.provide(layer())))

  it.effect("tokens(key) gives the whole valid token set", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      const first = yield* signedIn("ann")
      yield* TestClock.adjust(Duration.hours(1))
      const set = yield* tokens.tokens("ann")
      assert.isTrue(DateTime.greaterThan(set.expiresAt, first.expiresAt))
      assert.deepStrictEqual(set.scopes, first.scopes)
    }).pipe(Effect.provide(layer())))
})
