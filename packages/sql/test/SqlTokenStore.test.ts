import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as SqlTokenStore from "@effect-oauth/sql/SqlTokenStore"
import * as TokenStoreSuite from "@effect-oauth/testing/TokenStoreSuite"
import * as SqlClient from "@effect/sql/SqlClient"
import { assert, describe, layer as layerTests } from "@effect/vitest"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as Tracer from "effect/Tracer"
import { randomUUID } from "node:crypto"
import { readdirSync } from "node:fs"
import { inspect } from "node:util"
import { databases, tempDir } from "./utils.js"

/** The ids of the migrations the package ships: `src/migrations/0001_….ts` is 1, and so on. */
const shippedMigrations = readdirSync(new URL("../src/migrations/", import.meta.url))
  .filter((name) => /^\d{4}_.*\.ts$/.test(name))
  .map((name) => Number(name.slice(0, 4)))
  .sort((a, b) => a - b)

const dir = tempDir("sql-token-store")

/**
 * Makes the record of `key` undecodable the way a stray edit would, keeping the secrets in it: the
 * access token where the expiry belongs, the refresh token where the scopes belong.
 */
const corrupt = (key: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const rows = yield* sql<{ readonly record: string }>`SELECT record FROM effect_oauth_tokens WHERE key = ${key}`
    const record: Record<string, unknown> = JSON.parse(rows[0]?.record ?? "{}")
    const garbled = JSON.stringify({ ...record, expiresAt: record["accessToken"], scopes: record["refreshToken"] })
    yield* sql`UPDATE effect_oauth_tokens SET record = ${garbled} WHERE key = ${key}`
  })

for (const database of databases(dir)) {
  const layer = SqlTokenStore.layer().pipe(Layer.provideMerge(database.client))

  TokenStoreSuite.run(`SqlTokenStore on ${database.name}`, layer, {
    shared: true,
    corrupt,
    // Waiters poll (every 50 ms at most): a released lock reaches the next one within a poll.
    promptMillis: 3000,
    sessionLocks: database.name === "PostgreSQL"
  })

  describe(`SqlTokenStore on ${database.name}`, () => {
    const tokens = (label: string) =>
      new TokenSet.TokenSet({
        accessToken: Redacted.make(`at-${label}-${randomUUID()}`),
        tokenType: "Bearer",
        refreshToken: Option.some(Redacted.make(`rt-${label}-${randomUUID()}`)),
        expiresAt: DateTime.unsafeMake(1_760_000_000_000),
        refreshExpiresAt: Option.none(),
        issuedAt: DateTime.unsafeMake(1_759_996_400_000),
        scopes: ["api:agent:message:*"]
      })
    const secretsOf = (set: TokenSet.TokenSet) => [
      Redacted.value(set.accessToken),
      ...Option.toArray(Option.map(set.refreshToken, Redacted.value))
    ]
    const rawRow = (key: string) =>
      Effect.map(
        Effect.flatMap(
          SqlClient.SqlClient,
          (sql) =>
            sql<
              { readonly version: unknown; readonly record: string }
            >`SELECT version, record FROM effect_oauth_tokens WHERE key = ${key}`
        ),
        (rows) => rows[0]
      )

    layerTests(layer, { timeout: 60_000, excludeTestServices: true })((it) => {
      it.effect("a corrupt row is reported as Corrupt without its content and left untouched, byte for byte (S28, S29)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const sql = yield* SqlClient.SqlClient
          const key = `corrupt/${randomUUID()}`
          const written = tokens("corrupt")
          yield* store.set(key, written)
          const torn = (yield* rawRow(key))?.record.slice(0, 90) ?? ""
          yield* sql`UPDATE effect_oauth_tokens SET record = ${torn} WHERE key = ${key}`
          const before = yield* rawRow(key)

          const error = yield* Effect.flip(store.get(key))
          assert.instanceOf(error, OAuthError.TokenStoreError)
          assert.strictEqual(error.reason, "Corrupt")
          assert.strictEqual(error.key, key)
          assert.include(torn, Redacted.value(written.accessToken).slice(0, 20), "the torn row keeps a secret")
          for (const secret of secretsOf(written)) {
            for (const rendering of [error.message, JSON.stringify(error), inspect(error, { depth: 10 })]) {
              assert.isFalse(rendering.includes(secret.slice(0, 20)), "the error shows a token")
            }
          }
          // A create does not treat the corrupt row as missing; the row is as it was.
          const create = yield* Effect.flip(store.set(key, tokens("other"), { expectedVersion: null }))
          assert.strictEqual(create._tag, "VersionConflict")
          assert.deepStrictEqual(yield* rawRow(key), before)
        }))

      it.effect(
        "a slow holder whose lease ran out cannot overwrite the record the next holder wrote: its compare-and-set fails (S17, S20)",
        () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const key = `slow-holder/${randomUUID()}`
            const initial = yield* store.set(key, tokens("initial"))

            // The slow holder takes the lock with a short lease and reads the record…
            const slowScope = yield* Scope.make()
            const slowInstance = yield* Scope.make()
            const slowStore = yield* Effect.map(
              Layer.buildWithScope(Layer.fresh(layer), slowInstance),
              (context) => Context.get(context, TokenStore.TokenStore)
            )
            const slowLock = yield* Scope.extend(slowStore.lock(key, { lease: Duration.millis(200) }), slowScope)
            const seen = yield* store.get(key)
            assert.strictEqual(Option.getOrThrow(seen).version, initial)

            // …then stalls past its lease (its renewals stop: here its instance goes away); the next
            // holder gets the lock, refreshes and writes.
            yield* Scope.close(slowInstance, Exit.void)
            const next = yield* Effect.scoped(Effect.gen(function*() {
              const lock = yield* store.lock(key, { lease: Duration.seconds(30) })
              assert.isTrue(lock.fence > slowLock.fence)
              const current = Option.getOrThrow(yield* store.get(key))
              const newer = tokens("newer")
              const version = yield* store.set(key, newer, { expectedVersion: current.version })
              return { newer, version }
            })).pipe(Effect.timeout(Duration.seconds(5)))

            // The slow holder wakes and writes what it refreshed, against the version it read.
            const conflict = yield* Effect.flip(store.set(key, tokens("stale"), { expectedVersion: initial }))
            assert.instanceOf(conflict, OAuthError.VersionConflict)
            if (conflict._tag === "VersionConflict") {
              assert.strictEqual(conflict.expected, initial)
              assert.strictEqual(conflict.actual, next.version)
            }
            yield* Scope.close(slowScope, Exit.void)
            const stored = Option.getOrThrow(yield* store.get(key))
            assert.strictEqual(stored.version, next.version)
            assert.strictEqual(Redacted.value(stored.tokens.accessToken), Redacted.value(next.newer.accessToken))
          })
      )

      it.effect(
        database.name === "PostgreSQL"
          ? "a lock holder whose connection died without releasing frees the key at once: the lock lives with its session (S45)"
          : "a lock holder whose connection died without releasing frees the key within its lease, not before (S20)",
        () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const key = `killed-holder/${randomUUID()}`
            const lease = Duration.millis(database.name === "PostgreSQL" ? 30_000 : 800)

            // Another client takes the lock; its connection is then closed while the lock's scope
            // never is: a process that died holding the lock.
            const clientScope = yield* Scope.make()
            const other = yield* Effect.map(
              Layer.buildWithScope(Layer.fresh(layer), clientScope),
              (context) => Context.get(context, TokenStore.TokenStore)
            )
            const neverClosed = yield* Scope.make()
            const start = yield* Clock.currentTimeMillis
            const dead = yield* Scope.extend(other.lock(key, { lease }), neverClosed)
            yield* Scope.close(clientScope, Exit.void)

            if (database.name === "PostgreSQL") {
              // The database ended the holder's session, and its advisory lock with it.
              const lock = yield* Effect.scoped(store.lock(key, { lease: Duration.seconds(30) })).pipe(
                Effect.timeout(Duration.seconds(1))
              )
              assert.isTrue(lock.fence > dead.fence)
              return
            }
            const lock = yield* Effect.scoped(store.lock(key, { lease: Duration.seconds(30) })).pipe(
              Effect.timeout(Duration.sum(lease, Duration.seconds(3)))
            )
            const waited = (yield* Clock.currentTimeMillis) - start
            assert.isTrue(lock.fence > dead.fence)
            assert.isAtLeast(waited, Duration.toMillis(lease) - 50, "the lock was taken before the lease ran out")
            assert.isAtMost(waited, Duration.toMillis(lease) + 3000)
          })
      )

      it.effect("SQL spans and logs carry statements with placeholders, never a token (S26)", () =>
        Effect.gen(function*() {
          const store = yield* TokenStore.TokenStore
          const spans: Array<{ readonly name: string; readonly attributes: Map<string, unknown> }> = []
          const logs: Array<unknown> = []
          const tracer = Tracer.make({
            span: (name, parent, context, links, startTime, kind) => {
              const attributes = new Map<string, unknown>()
              spans.push({ name, attributes })
              return {
                _tag: "Span",
                name,
                spanId: randomUUID(),
                traceId: randomUUID(),
                parent,
                context,
                status: { _tag: "Started", startTime },
                attributes,
                links,
                sampled: true,
                kind,
                end: () => {},
                attribute: (key, value) => void attributes.set(key, value),
                event: (event, _time, eventAttributes) => void attributes.set(`event:${event}`, eventAttributes),
                addLinks: () => {}
              }
            },
            context: (f) => f()
          })
          const key = `traced/${randomUUID()}`
          const written = tokens("traced")
          yield* Effect.scoped(Effect.gen(function*() {
            yield* store.lock(key, { lease: Duration.seconds(5) })
            const version = yield* store.set(key, written, { expectedVersion: null })
            yield* store.get(key)
            yield* Effect.flip(store.set(key, written, { expectedVersion: version + 1 }))
            yield* store.remove(key, { expectedVersion: version })
          })).pipe(
            Effect.withTracer(tracer),
            Effect.provide(Logger.replace(Logger.defaultLogger, Logger.make((entry) => void logs.push(entry.message)))),
            Logger.withMinimumLogLevel(LogLevel.All)
          )
          const statements = spans.flatMap((span) =>
            typeof span.attributes.get("db.query.text") === "string" ? [span.attributes.get("db.query.text")] : []
          )
          assert.isAtLeast(statements.length, 5, "the SQL client recorded no statements")
          const rendered = inspect({ spans, logs }, { depth: 10, maxStringLength: Infinity })
          for (const secret of secretsOf(written)) assert.notInclude(rendered, secret, "a span or log shows a token")
        }))

      it.effect("a failing database is a TokenStoreError Unavailable that shows no token (S26)", () =>
        Effect.gen(function*() {
          const scope = yield* Scope.make()
          const closed = yield* Effect.map(
            Layer.buildWithScope(Layer.fresh(layer), scope),
            (context) => Context.get(context, TokenStore.TokenStore)
          )
          yield* Scope.close(scope, Exit.void)
          const written = tokens("unavailable")
          const error = yield* Effect.flip(closed.set(`closed/${randomUUID()}`, written)).pipe(
            Effect.timeout(Duration.seconds(10))
          )
          assert.instanceOf(error, OAuthError.TokenStoreError)
          if (error._tag !== "TokenStoreError") return
          assert.strictEqual(error.reason, "Unavailable")
          assert.strictEqual(error.operation, "set")
          for (const secret of secretsOf(written)) {
            for (const rendering of [error.message, JSON.stringify(error), inspect(error, { depth: 10 })]) {
              assert.isFalse(rendering.includes(secret), "the error shows a token")
            }
          }
        }))

      it.effect(
        `awaitChange completes at a release of the key's lock, in this store${
          database.name === "PostgreSQL" ? " and in another one (NOTIFY)" : ""
        }, and not for another key (S47)`,
        () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const other = database.name === "PostgreSQL" ? yield* SqlTokenStore.make() : store
            const key = `changed/${randomUUID()}`
            assert.isDefined(store.awaitChange)
            assert.isDefined(other.awaitChange)
            if (store.awaitChange === undefined || other.awaitChange === undefined) return
            // Give the other store's LISTEN time to start.
            yield* Effect.sleep(Duration.millis(300))
            const here = yield* Effect.fork(store.awaitChange(key))
            const there = yield* Effect.fork(other.awaitChange(key))
            const unrelated = yield* Effect.fork(store.awaitChange(`${key}/other`))
            yield* Effect.sleep(Duration.millis(50))
            assert.isNull(here.unsafePoll(), "a change before any release")
            yield* Effect.scoped(store.lock(key, { lease: "10 seconds" }))
            yield* Fiber.join(here).pipe(Effect.timeout("5 seconds"))
            yield* Fiber.join(there).pipe(Effect.timeout("5 seconds"))
            yield* Effect.sleep(Duration.millis(50))
            assert.isNull(unrelated.unsafePoll(), "another key's release was a change of this one")
            yield* Fiber.interrupt(unrelated)
          }).pipe(Effect.scoped)
      )

      it.effect(
        `awaitChange completes at a write of the key, before its writer releases the lock, in this store${
          database.name === "PostgreSQL" ? " and in another one (NOTIFY)" : ""
        } (S46, S47)`,
        () =>
          Effect.gen(function*() {
            const store = yield* TokenStore.TokenStore
            const other = database.name === "PostgreSQL" ? yield* SqlTokenStore.make() : store
            const key = `written/${randomUUID()}`
            if (store.awaitChange === undefined || other.awaitChange === undefined) {
              return assert.fail("the store has no change signal")
            }
            // Give the other store's LISTEN time to start.
            yield* Effect.sleep(Duration.millis(300))
            const here = yield* Effect.fork(store.awaitChange(key))
            const there = yield* Effect.fork(other.awaitChange(key))
            yield* Effect.sleep(Duration.millis(50))
            yield* Effect.scoped(Effect.gen(function*() {
              yield* store.lock(key, { lease: "10 seconds" })
              assert.isNull(here.unsafePoll(), "a change before the write")
              yield* store.set(key, tokens("written"))
              // Still holding the lock: the write alone was the signal.
              yield* Fiber.join(here).pipe(Effect.timeout("5 seconds"))
              yield* Fiber.join(there).pipe(Effect.timeout("5 seconds"))
            }))
          }).pipe(Effect.scoped)
      )

      // Two clients of one SQLite file in one process cannot migrate at once (a busy writer blocks the
      // thread the other needs); processes can, and PostgreSQL clients can.
      const together = database.name === "PostgreSQL"
      it.effect(
        `migrations run once: 4 layers built ${
          together ? "at once" : "one after another"
        } on a fresh table prefix all work and record each shipped migration once`,
        () =>
          Effect.gen(function*() {
            const sql = yield* SqlClient.SqlClient
            const prefix = `m${randomUUID().replace(/-/g, "").slice(0, 12)}_`
            const builds = yield* Effect.forEach(
              [1, 2, 3, 4],
              () =>
                Effect.scoped(
                  Effect.flatMap(
                    Layer.build(SqlTokenStore.layer({ tablePrefix: prefix }).pipe(Layer.provide(Layer.fresh(layer)))),
                    (context) =>
                      Context.get(context, TokenStore.TokenStore).set(`migrated/${randomUUID()}`, tokens("migrated"))
                  )
                ),
              { concurrency: together ? "unbounded" : 1 }
            )
            assert.strictEqual(builds.length, 4)
            const migrations = yield* sql<{ readonly migration_id: unknown }>`SELECT migration_id FROM ${
              sql(`${prefix}migrations`)
            }`
            assert.isAbove(shippedMigrations.length, 0)
            assert.deepStrictEqual(
              migrations.map((row) => Number(row.migration_id)).sort((a, b) => a - b),
              shippedMigrations
            )
            // Building again on the migrated prefix changes nothing.
            yield* Effect.scoped(Layer.build(SqlTokenStore.layer({ tablePrefix: prefix }).pipe(Layer.provide(layer))))
            const again = yield* sql`SELECT migration_id FROM ${sql(`${prefix}migrations`)}`
            assert.strictEqual(again.length, shippedMigrations.length)
          })
      )
    })
  })
}
