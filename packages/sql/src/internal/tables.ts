import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as CreateTables from "../migrations/0001_create_tables.js"
import * as PendingNonce from "../migrations/0002_pending_nonce.js"
import * as LockQueue from "../migrations/0003_lock_queue.js"

/** @internal */
export const defaultPrefix = "effect_oauth_"

/** @internal */
export type Dialect = "pg" | "sqlite"

/** @internal */
export interface Tables extends LockQueue.Tables {
  readonly migrations: string
}

/** @internal */
export const tablesOf = (prefix: string = defaultPrefix): Effect.Effect<Tables> =>
  /^[a-z_][a-z0-9_]{0,40}$/.test(prefix)
    ? Effect.succeed({
      tokens: `${prefix}tokens`,
      locks: `${prefix}locks`,
      pending: `${prefix}pending`,
      sequence: `${prefix}sequence`,
      waiters: `${prefix}lock_waiters`,
      migrations: `${prefix}migrations`
    })
    : Effect.dieMessage(
      `@effect-oauth/sql: the table prefix ${
        JSON.stringify(prefix)
      } is invalid: use lowercase letters, digits and underscores (at most 41), not starting with a digit`
    )

/**
 * The SQL client without name transforms (the store's column names are its own), and its dialect.
 * Dialects other than PostgreSQL and SQLite fail with a `SqlError` that says so.
 *
 * @internal
 */
export const client: Effect.Effect<
  { readonly sql: SqlClient.SqlClient; readonly dialect: Dialect },
  SqlError,
  SqlClient.SqlClient
> = Effect.flatMap(SqlClient.SqlClient, (client) => {
  const sql = client.withoutTransforms()
  return sql.onDialectOrElse({
    pg: () => Effect.succeed({ sql, dialect: "pg" as const }),
    sqlite: () => Effect.succeed({ sql, dialect: "sqlite" as const }),
    orElse: () =>
      Effect.fail(
        new SqlError({ message: "@effect-oauth/sql supports PostgreSQL and SQLite; this SqlClient is another dialect" })
      )
  })
})

/**
 * Runs the package's migrations once, recorded in their own table (`<prefix>migrations`), so they
 * never mix with an application's own migrations. Processes starting together are safe: PostgreSQL
 * serializes them with the migrator's table lock, SQLite with its write lock; the rare race on
 * creating the migrations table itself is retried.
 *
 * @internal
 */
export const migrate = (
  tables: Tables
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  SqlError | Migrator.MigrationError,
  SqlClient.SqlClient
> =>
  Migrator.make({})({
    loader: Migrator.fromRecord({
      "0001_create_tables": CreateTables.make(tables),
      "0002_pending_nonce": PendingNonce.make(tables),
      "0003_lock_queue": LockQueue.make(tables)
    }),
    table: tables.migrations
  }).pipe(
    Effect.retry({
      schedule: Schedule.spaced(Duration.millis(100)).pipe(Schedule.intersect(Schedule.recurs(5))),
      while: (error) => error._tag === "SqlError"
    })
  )

/**
 * The database's clock, in epoch milliseconds, as an SQL expression. Leases are computed and compared
 * on the database, so processes whose clocks disagree still agree on who holds a lock.
 *
 * @internal
 */
export const nowMillis = (sql: SqlClient.SqlClient, dialect: Dialect): Statement.Fragment =>
  dialect === "pg"
    ? sql.literal("(extract(epoch from clock_timestamp()) * 1000)::bigint")
    : sql.literal("CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)")

/**
 * The next value of the store's sequence (versions and fences), as an SQL expression evaluated inside
 * the one statement that writes it. PostgreSQL: `nextval`. SQLite: the counter row plus one; the
 * migration's triggers move the counter up to every version or fence written, within the same
 * statement, which holds the database's write lock, so values grow in commit order. No statement
 * needs a transaction, so no write lock is ever held across two statements.
 *
 * @internal
 */
export const nextValue = (sql: SqlClient.SqlClient, dialect: Dialect, tables: Tables): Statement.Fragment =>
  dialect === "pg"
    ? sql`nextval(${tables.sequence})`
    : sql`(SELECT value + 1 FROM ${sql(tables.sequence)} WHERE name = 'sequence')`

/**
 * A number column as a number: PostgreSQL returns `bigint` as a string, SQLite as a number (or a
 * `bigint` with safe integers on).
 *
 * @internal
 */
export const toNumber = (value: unknown): number =>
  typeof value === "number" ? value : typeof value === "bigint" || typeof value === "string" ? Number(value) : NaN

/**
 * A database failure as a `TokenStoreError`. Only the driver's error code is kept: a driver's message
 * may quote values, and the values here are tokens.
 *
 * @internal
 */
export const unavailable = (
  operation: OAuthError.TokenStoreError["operation"],
  key: string | undefined
) =>
(error: SqlError): OAuthError.TokenStoreError => {
  const cause: unknown = error.cause
  const code = typeof cause === "object" && cause !== null && "code" in cause &&
      (typeof cause.code === "string" || typeof cause.code === "number")
    ? ` ${String(cause.code).slice(0, 40)}`
    : ""
  return new OAuthError.TokenStoreError({
    operation,
    reason: "Unavailable",
    ...(key === undefined ? {} : { key }),
    detail: `database error${code}`
  })
}
