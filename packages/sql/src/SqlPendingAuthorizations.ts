/**
 * A `PendingAuthorizations` store on an `@effect/sql` database, so that `/login` on one instance and
 * `/callback` on another work together (SPEC S9).
 *
 * - A row's key is `PendingAuthorizations.stateKey(state)` (a SHA-256 digest); the state itself is
 *   not stored: `take` puts back the one it was given. The OpenID Connect nonce has its own column;
 *   the rest of the pending authorization (the PKCE verifier among it) is stored as JSON.
 * - `take` is one `DELETE … RETURNING`: of two instances racing for one state, exactly one gets it.
 * - Expiry is the pending authorization's own `expiresAt`, set by the client's clock when it was
 *   created, so it is compared with the client's Effect `Clock` too. Expired rows are deleted on every
 *   `put` and by `cleanup`.
 *
 * @since 0.1.0
 */
import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as PendingAuthorization from "@effect-oauth/core/PendingAuthorization"
import * as PendingAuthorizations from "@effect-oauth/core/PendingAuthorizations"
import type * as Migrator from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as internal from "./internal/tables.js"

/**
 * @example
 * ```ts
 * import { SqlPendingAuthorizations } from "@effect-oauth/sql"
 *
 * // The same prefix as the token store's, so both live in `myapp_*` tables.
 * const options: SqlPendingAuthorizations.Options = { tablePrefix: "myapp_" }
 * const PendingLive = SqlPendingAuthorizations.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Prefix of the tables, as for `SqlTokenStore` (default `effect_oauth_`). */
  readonly tablePrefix?: string | undefined
}

/**
 * The store, and `cleanup`, which deletes the expired rows and returns how many it deleted (run it
 * on a schedule if your instances rarely `put`).
 *
 * @example
 * ```ts
 * import { SqlPendingAuthorizations } from "@effect-oauth/sql"
 * import { Effect, Schedule } from "effect"
 *
 * // Deletes the expired rows every hour, for instances that rarely `put`.
 * const sweep = (store: SqlPendingAuthorizations.Service) =>
 *   store.cleanup.pipe(Effect.repeat(Schedule.spaced("1 hour")), Effect.forkScoped)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service extends PendingAuthorizations.Service {
  readonly cleanup: Effect.Effect<number, OAuthError.PendingAuthorizationsError>
}

// Parsed as plain JSON: a `__proto__` key stays an own property, never a prototype (SPEC S28).
const StoredJson = Schema.parseJson()

/** A row that does not decode: the error names the problem's place, never the content (SPEC S28). */
const corrupt = (error: ParseResult.ParseError) =>
  new OAuthError.PendingAuthorizationsError({
    operation: "take",
    reason: "Corrupt",
    detail: OAuthError.describeParseError(error, "pending authorization")
  })

/** A database failure; only the driver's error code is kept (see `internal.unavailable`). */
const unavailable = (operation: OAuthError.PendingAuthorizationsError["operation"]) => (error: SqlError) =>
  new OAuthError.PendingAuthorizationsError({
    operation,
    reason: "Unavailable",
    detail: internal.unavailable("get", undefined)(error).detail ?? "database error"
  })

/**
 * Builds the store on the `SqlClient` in context, after running the migrations.
 *
 * @example
 * ```ts
 * import { SqlPendingAuthorizations } from "@effect-oauth/sql"
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* SqlPendingAuthorizations.make()
 *   const taken = yield* store.take("unknown-state")
 *   return { taken, deleted: yield* store.cleanup }
 * }).pipe(Effect.provide(SqliteClient.layer({ filename: ":memory:" })))
 * const { deleted, taken } = await Effect.runPromise(program)
 * assert.ok(Option.isNone(taken))
 * assert.strictEqual(deleted, 0)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<Service, SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { sql } = yield* internal.client
    const tables = yield* internal.tablesOf(options.tablePrefix)
    yield* internal.migrate(tables)

    const deleteExpired = (now: number) =>
      Effect.map(
        sql`DELETE FROM ${sql(tables.pending)} WHERE expires_at <= ${now} RETURNING key`,
        (rows) => rows.length
      )

    const put = (pending: PendingAuthorization.PendingAuthorization) =>
      Effect.gen(function*() {
        const key = yield* PendingAuthorizations.stateKey(Redacted.value(pending.state))
        const now = yield* Clock.currentTimeMillis
        const { nonce, state: _state, ...rest } = yield* Effect.orDie(
          Schema.encode(PendingAuthorization.PendingAuthorization)(
            pending
          )
        )
        const record = JSON.stringify(rest)
        const expiresAt = DateTime.toEpochMillis(pending.expiresAt)
        yield* deleteExpired(now)
        yield* sql`INSERT INTO ${
          sql(tables.pending)
        } (key, record, expires_at, nonce) VALUES (${key}, ${record}, ${expiresAt}, ${nonce ?? null})
ON CONFLICT (key) DO UPDATE SET record = excluded.record, expires_at = excluded.expires_at, nonce = excluded.nonce`
      }).pipe(Effect.mapError(unavailable("put")))

    const take = (state: string) =>
      Effect.gen(function*() {
        const key = yield* PendingAuthorizations.stateKey(state)
        const rows = yield* sql<
          { readonly record: unknown; readonly expires_at: unknown; readonly nonce: unknown }
        >`DELETE FROM ${sql(tables.pending)} WHERE key = ${key} RETURNING record, expires_at, nonce`.pipe(
          Effect.mapError(unavailable("take"))
        )
        const row = rows[0]
        if (row === undefined) return Option.none()
        if (internal.toNumber(row.expires_at) <= (yield* Clock.currentTimeMillis)) return Option.none()
        // The row is gone either way: a pending authorization is consumed once, even a corrupt one.
        const fields = yield* Effect.catchTag(Schema.decodeUnknown(StoredJson)(row.record), "ParseError", corrupt)
        if (!Predicate.isRecord(fields) || Array.isArray(fields)) {
          return yield* new OAuthError.PendingAuthorizationsError({
            operation: "take",
            reason: "Corrupt",
            detail: "pending authorization is invalid"
          })
        }
        const pending = yield* Effect.catchTag(
          Schema.decodeUnknown(PendingAuthorization.PendingAuthorization)({
            ...fields,
            state,
            ...(typeof row.nonce === "string" ? { nonce: row.nonce } : {})
          }),
          "ParseError",
          corrupt
        )
        return Option.some(pending)
      })

    const cleanup = Effect.flatMap(Clock.currentTimeMillis, deleteExpired).pipe(
      Effect.mapError(unavailable("cleanup"))
    )

    return { put, take, cleanup }
  })

/**
 * The store on the `SqlClient` in context, as core's `PendingAuthorizations` service.
 *
 * @example
 * ```ts
 * import { PendingAuthorizations } from "@effect-oauth/core"
 * import { SqlPendingAuthorizations } from "@effect-oauth/sql"
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Effect, Layer, Option } from "effect"
 *
 * // `/login` on one instance and `/callback` on another share the database.
 * const PendingLive = SqlPendingAuthorizations.layer().pipe(
 *   Layer.provide(SqliteClient.layer({ filename: ":memory:" }))
 * )
 *
 * const program = Effect.flatMap(PendingAuthorizations.PendingAuthorizations, (store) => store.take("unknown-state"))
 * assert.ok(Option.isNone(await Effect.runPromise(Effect.provide(program, PendingLive))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<PendingAuthorizations.PendingAuthorizations, SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Layer.effect(PendingAuthorizations.PendingAuthorizations, make(options))
