/**
 * The first migration: the token, lock and pending-authorization tables and the sequence that
 * versions and fences are drawn from. Every instant is a `bigint` of epoch milliseconds, the same on
 * every dialect.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"

/**
 * The names of the store's tables, from its prefix.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tables {
  /** `key` → `version`, `record` (the encoded token set), `updated_at`. */
  readonly tokens: string
  /** `key` → `owner`, `fence`, `expires_at`: one row per held (or expired, not yet taken) lock. */
  readonly locks: string
  /** `key` (SHA-256 of the state) → `record`, `expires_at`. */
  readonly pending: string
  /** PostgreSQL: a sequence; SQLite: a one-row counter table that triggers keep at the highest value written. */
  readonly sequence: string
}

/**
 * The migration for tables of the given names.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (tables: Tables): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* sql`CREATE TABLE ${sql(tables.tokens)} (
  key text PRIMARY KEY NOT NULL,
  version bigint NOT NULL,
  record text NOT NULL,
  updated_at bigint NOT NULL
)`
    yield* sql`CREATE TABLE ${sql(tables.locks)} (
  key text PRIMARY KEY NOT NULL,
  owner text NOT NULL,
  fence bigint NOT NULL,
  expires_at bigint NOT NULL
)`
    yield* sql`CREATE TABLE ${sql(tables.pending)} (
  key text PRIMARY KEY NOT NULL,
  record text NOT NULL,
  expires_at bigint NOT NULL
)`
    yield* sql`CREATE INDEX ${sql(`${tables.pending}_expires_at`)} ON ${sql(tables.pending)} (expires_at)`
    yield* sql.onDialectOrElse({
      pg: () => sql`CREATE SEQUENCE ${sql(tables.sequence)} AS bigint`,
      orElse: () =>
        Effect.gen(function*() {
          yield* sql`CREATE TABLE ${sql(tables.sequence)} (name text PRIMARY KEY NOT NULL, value bigint NOT NULL)`
          yield* sql`INSERT INTO ${sql(tables.sequence)} (name, value) VALUES ('sequence', 0)`
          // Writes take `counter + 1` in the statement itself; these move the counter up with them.
          const follow = [
            [tables.tokens, "version", "INSERT"],
            [tables.tokens, "version", "UPDATE OF version"],
            [tables.locks, "fence", "INSERT"],
            [tables.locks, "fence", "UPDATE OF fence"]
          ] as const
          for (const [table, column, event] of follow) {
            const name = `${table}_${column}_${event.startsWith("INSERT") ? "insert" : "update"}`
            yield* sql`CREATE TRIGGER ${sql(name)} AFTER ${sql.literal(event)} ON ${sql(table)} BEGIN
  UPDATE ${sql(tables.sequence)} SET value = NEW.${sql.literal(column)}
  WHERE name = 'sequence' AND value < NEW.${sql.literal(column)};
END`
          }
        })
    })
  })
