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
import { databases, tempDir } from "./utils.js"

const dir = tempDir("sql-pending-nonce")

class Store extends Context.Tag("test/NoncePendingAuthorizations")<Store, SqlPendingAuthorizations.Service>() {}

const pendingAt = (now: number, nonce: Option.Option<string>) =>
  new PendingAuthorization.PendingAuthorization({
    state: Redacted.make(randomBytes(16).toString("base64url")),
    codeVerifier: Option.some(Redacted.make(randomBytes(32).toString("base64url"))),
    redirectUri: "https://app.example.com/oauth/callback",
    issuer: Option.some("https://op.example.test"),
    scopes: ["openid", "profile"],
    createdAt: DateTime.unsafeMake(now),
    expiresAt: DateTime.unsafeMake(now + Duration.toMillis(Duration.minutes(10))),
    nonce: Option.map(nonce, Redacted.make),
    maxAge: Option.some(300)
  })

for (const database of databases(dir)) {
  const layer = Layer.effect(Store, SqlPendingAuthorizations.make()).pipe(
    Layer.provideMerge(database.client)
  )

  describe(`SqlPendingAuthorizations nonce column (0002) on ${database.name}`, () => {
    layerTests(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("the OpenID Connect nonce is kept in its own column and comes back with the pending authorization", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const sql = yield* SqlClient.SqlClient
          const nonce = randomBytes(32).toString("base64url")
          const pending = pendingAt(yield* Clock.currentTimeMillis, Option.some(nonce))
          yield* store.put(pending)
          const key = yield* PendingAuthorizations.stateKey(Redacted.value(pending.state))
          const rows = yield* sql<
            { readonly nonce: string | null; readonly record: string }
          >`SELECT nonce, record FROM effect_oauth_pending WHERE key = ${key}`
          assert.strictEqual(rows[0]?.nonce, nonce)
          assert.notInclude(rows[0]?.record ?? "", nonce, "the nonce is not also in the JSON record")
          const taken = Option.getOrThrow(yield* store.take(Redacted.value(pending.state)))
          assert.strictEqual(Option.getOrUndefined(Option.map(taken.nonce, Redacted.value)), nonce)
          assert.deepStrictEqual(taken.maxAge, Option.some(300))
        }))

      it.effect("a pending authorization without a nonce, and a row written before the column existed, have none", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const sql = yield* SqlClient.SqlClient
          const now = yield* Clock.currentTimeMillis
          const plain = pendingAt(now, Option.none())
          yield* store.put(plain)
          assert.isTrue(Option.isNone(Option.getOrThrow(yield* store.take(Redacted.value(plain.state))).nonce))
          // a row as the first migration's code wrote it: no nonce column value, no nonce in the record
          const state = randomBytes(16).toString("base64url")
          const key = yield* PendingAuthorizations.stateKey(state)
          const record = JSON.stringify({
            redirectUri: "https://app.example.com/oauth/callback",
            scopes: [],
            createdAt: new Date(now).toISOString(),
            expiresAt: new Date(now + 600_000).toISOString()
          })
          yield* sql`INSERT INTO effect_oauth_pending (key, record, expires_at) VALUES (${key}, ${record}, ${
            now + 600_000
          })`
          const old = Option.getOrThrow(yield* store.take(state))
          assert.isTrue(Option.isNone(old.nonce))
          assert.strictEqual(old.redirectUri, "https://app.example.com/oauth/callback")
        }))
    })
  })
}
