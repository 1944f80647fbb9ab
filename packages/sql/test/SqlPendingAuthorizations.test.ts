import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as PendingAuthorization from "@effect-oauth/core/PendingAuthorization"
import * as PendingAuthorizations from "@effect-oauth/core/PendingAuthorizations"
import * as SqlPendingAuthorizations from "@effect-oauth/sql/SqlPendingAuthorizations"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer as layerTests } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"
import { inspect } from "node:util"
import { databases, tempDir } from "./utils.js"

const dir = tempDir("sql-pending")

/** A second store on its own connection (pool): another instance of the application. */
class Other extends Context.Tag("test/OtherPendingAuthorizations")<Other, SqlPendingAuthorizations.Service>() {}

const pendingAt = (now: number, lifetime: Duration.DurationInput = Duration.minutes(10)) =>
  new PendingAuthorization.PendingAuthorization({
    state: Redacted.make(randomBytes(16).toString("base64url")),
    codeVerifier: Option.some(Redacted.make(randomBytes(32).toString("base64url"))),
    redirectUri: "https://app.example.com/oauth/callback?from=login",
    issuer: Option.some("https://app.credal.ai"),
    scopes: ["api:agent:message:*"],
    createdAt: DateTime.unsafeMake(now),
    expiresAt: DateTime.unsafeMake(now + Duration.toMillis(lifetime))
  })

const assertSame = (
  actual: PendingAuthorization.PendingAuthorization,
  expected: PendingAuthorization.PendingAuthorization
) => {
  assert.strictEqual(Redacted.value(actual.state), Redacted.value(expected.state))
  assert.strictEqual(
    Option.getOrUndefined(Option.map(actual.codeVerifier, Redacted.value)),
    Option.getOrUndefined(Option.map(expected.codeVerifier, Redacted.value))
  )
  assert.strictEqual(actual.redirectUri, expected.redirectUri)
  assert.deepStrictEqual(Option.getOrUndefined(actual.issuer), Option.getOrUndefined(expected.issuer))
  assert.deepStrictEqual([...actual.scopes], [...expected.scopes])
  assert.strictEqual(DateTime.toEpochMillis(actual.createdAt), DateTime.toEpochMillis(expected.createdAt))
  assert.strictEqual(DateTime.toEpochMillis(actual.expiresAt), DateTime.toEpochMillis(expected.expiresAt))
}

for (const database of databases(dir)) {
  const one = Layer.effectContext(
    Effect.map(
      SqlPendingAuthorizations.make(),
      (store) => Context.make(PendingAuthorizations.PendingAuthorizations, store)
    )
  ).pipe(Layer.provideMerge(database.client))
  const other = Layer.effect(Other, SqlPendingAuthorizations.make()).pipe(Layer.provide(Layer.fresh(database.client)))
  // One after the other: two SQLite clients of one process must not migrate at once.
  const layer = Layer.provideMerge(other, one)

  const rowOf = (key: string) =>
    Effect.flatMap(
      SqlClient.SqlClient,
      (sql) =>
        sql<
          { readonly key: string; readonly record: string }
        >`SELECT key, record FROM effect_oauth_pending WHERE key = ${key}`
    )

  describe(`SqlPendingAuthorizations on ${database.name}`, () => {
    layerTests(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("put on one instance, taken once on another: the second take finds nothing (S2, S9)", () =>
        Effect.gen(function*() {
          const login = yield* PendingAuthorizations.PendingAuthorizations
          const callback = yield* Other
          const pending = pendingAt(yield* Clock.currentTimeMillis)
          yield* login.put(pending)
          const taken = yield* callback.take(Redacted.value(pending.state))
          assert.isTrue(Option.isSome(taken), "the other instance did not find the pending authorization")
          assertSame(Option.getOrThrow(taken), pending)
          assert.isTrue(Option.isNone(yield* callback.take(Redacted.value(pending.state))), "taken twice")
          assert.isTrue(Option.isNone(yield* login.take(Redacted.value(pending.state))), "taken twice")
        }))

      it.effect("of 20 takes racing from two instances for one state, exactly one gets it (S2, S9)", () =>
        Effect.gen(function*() {
          const stores = [yield* PendingAuthorizations.PendingAuthorizations, yield* Other] as const
          const pending = pendingAt(yield* Clock.currentTimeMillis)
          yield* stores[0].put(pending)
          const results = yield* Effect.forEach(
            Array.from({ length: 20 }, (_, i) => i),
            (i) => (i % 2 === 0 ? stores[0] : stores[1]).take(Redacted.value(pending.state)),
            { concurrency: "unbounded" }
          )
          const winners = results.flatMap(Option.toArray)
          assert.strictEqual(winners.length, 1, `${winners.length} takes got the pending authorization`)
          const [winner] = winners
          if (winner !== undefined) assertSame(winner, pending)
        }))

      it.effect("an unknown state or a state that differs by one character finds nothing (S6, S9)", () =>
        Effect.gen(function*() {
          const store = yield* PendingAuthorizations.PendingAuthorizations
          const pending = pendingAt(yield* Clock.currentTimeMillis)
          yield* store.put(pending)
          const state = Redacted.value(pending.state)
          const near = `${state.slice(0, -1)}${state.endsWith("A") ? "B" : "A"}`
          assert.isTrue(Option.isNone(yield* store.take(near)))
          assert.isTrue(Option.isNone(yield* store.take("")))
          assert.isTrue(Option.isNone(yield* store.take("x".repeat(100_000))))
          assert.isTrue(Option.isSome(yield* store.take(state)))
        }))

      it.effect("an expired pending authorization is never returned, and expired rows are deleted on put and by cleanup (S9)", () =>
        Effect.gen(function*() {
          const store = yield* PendingAuthorizations.PendingAuthorizations
          const other = yield* Other
          const now = yield* Clock.currentTimeMillis

          // Expired before it is taken: the take consumes nothing usable.
          const expired = pendingAt(now - Duration.toMillis(Duration.minutes(11)))
          yield* store.put(expired)
          assert.isTrue(Option.isNone(yield* other.take(Redacted.value(expired.state))))

          // An expired row is deleted by the next put, from any instance.
          const stale = pendingAt(now - Duration.toMillis(Duration.minutes(11)))
          const staleKey = yield* PendingAuthorizations.stateKey(Redacted.value(stale.state))
          yield* store.put(stale)
          assert.strictEqual((yield* rowOf(staleKey)).length, 1)
          const fresh = pendingAt(now)
          yield* other.put(fresh)
          assert.strictEqual((yield* rowOf(staleKey)).length, 0, "the expired row outlived a put")

          // …and by cleanup, which counts what it deleted and keeps what is still valid.
          const late = pendingAt(now - Duration.toMillis(Duration.minutes(11)))
          const lateKey = yield* PendingAuthorizations.stateKey(Redacted.value(late.state))
          yield* store.put(late)
          const short = pendingAt(now, Duration.millis(150))
          yield* store.put(short)
          yield* Effect.sleep(Duration.millis(300))
          const deleted = yield* other.cleanup
          assert.isAtLeast(deleted, 1)
          assert.strictEqual((yield* rowOf(lateKey)).length, 0, "cleanup kept an expired row")
          assert.isTrue(Option.isNone(yield* store.take(Redacted.value(short.state))), "an expired one was returned")
          const kept = yield* other.take(Redacted.value(fresh.state))
          assert.isTrue(Option.isSome(kept), "cleanup removed a valid pending authorization")
        }))

      it.effect("the database holds no state: the row's key is the SHA-256 of the state and the record leaves it out (S9, S26)", () =>
        Effect.gen(function*() {
          const store = yield* PendingAuthorizations.PendingAuthorizations
          const pending = pendingAt(yield* Clock.currentTimeMillis)
          const state = Redacted.value(pending.state)
          yield* store.put(pending)
          const key = yield* PendingAuthorizations.stateKey(state)
          const rows = yield* rowOf(key)
          assert.strictEqual(rows.length, 1)
          for (const row of rows) {
            assert.notInclude(row.key, state)
            assert.notInclude(row.record, state)
          }
          assertSame(Option.getOrThrow(yield* store.take(state)), pending)
        }))

      it.effect("a corrupt pending row is a PendingAuthorizationsError Corrupt that shows no content, and is consumed (S28)", () =>
        Effect.gen(function*() {
          const store = yield* PendingAuthorizations.PendingAuthorizations
          const sql = yield* SqlClient.SqlClient
          const pending = pendingAt(yield* Clock.currentTimeMillis)
          const state = Redacted.value(pending.state)
          const verifier = Redacted.value(Option.getOrThrow(pending.codeVerifier))
          yield* store.put(pending)
          const key = yield* PendingAuthorizations.stateKey(state)
          const garbled = JSON.stringify({ redirectUri: verifier, createdAt: verifier, codeVerifier: 42 })
          yield* sql`UPDATE effect_oauth_pending SET record = ${garbled} WHERE key = ${key}`
          const error = yield* Effect.flip(store.take(state))
          assert.instanceOf(error, OAuthError.PendingAuthorizationsError)
          assert.strictEqual(error.reason, "Corrupt")
          for (const rendering of [error.message, JSON.stringify(error), inspect(error, { depth: 10 })]) {
            assert.notInclude(rendering, verifier)
            assert.notInclude(rendering, state)
          }
          assert.isTrue(Option.isNone(yield* store.take(state)))
        }))
    })
  })
}
