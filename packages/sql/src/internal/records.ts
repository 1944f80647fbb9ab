/**
 * The records of an SQL token store: reads, and writes that compare versions in one statement
 * (SPEC S20). Locks are in `SqlTokenStore.make`.
 *
 * @internal
 */
import * as OAuthError from "@effect-oauth/core/OAuthError"
import type * as TokenStore from "@effect-oauth/core/TokenStore"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import type * as Statement from "@effect/sql/Statement"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as internal from "./tables.js"

interface Row {
  readonly version: unknown
  readonly record: unknown
}

/** @internal */
export const make = ({ next, now, sql, tables }: {
  readonly sql: SqlClient.SqlClient
  readonly tables: internal.Tables
  /** The database clock, in epoch milliseconds. */
  readonly now: Statement.Fragment
  /** The store's next sequence value. */
  readonly next: Statement.Fragment
}) => {
  const currentVersion = (key: string) =>
    Effect.map(
      sql<{ readonly version: unknown }>`SELECT version FROM ${sql(tables.tokens)} WHERE key = ${key}`,
      (rows) => rows[0] === undefined ? null : internal.toNumber(rows[0].version)
    )

  /**
   * Runs a conditional write; when it touched no row, reads the version that made it fail. A row
   * that changed between the two statements (the reason no longer holds) makes the write run again.
   */
  const conditional = <A>(
    key: string,
    expected: number | null,
    write: Effect.Effect<Option.Option<A>, SqlError>
  ): Effect.Effect<A, SqlError | OAuthError.VersionConflict> => {
    const attempt = (tries: number): Effect.Effect<A, SqlError | OAuthError.VersionConflict> =>
      Effect.flatMap(write, (written) => {
        if (Option.isSome(written)) return Effect.succeed(written.value)
        return Effect.flatMap(currentVersion(key), (actual) =>
          actual === expected && tries < 3
            ? attempt(tries + 1)
            : Effect.fail(new OAuthError.VersionConflict({ key, expected, actual })))
      })
    return attempt(0)
  }

  const firstVersion = (rows: ReadonlyArray<{ readonly version: unknown }>): Option.Option<number> =>
    rows[0] === undefined ? Option.none() : Option.some(internal.toNumber(rows[0].version))

  const get = (key: string): Effect.Effect<Option.Option<TokenStore.RawRecord>, OAuthError.TokenStoreError> =>
    sql<Row>`SELECT version, record FROM ${sql(tables.tokens)} WHERE key = ${key}`.pipe(
      Effect.mapError(internal.unavailable("get", key)),
      Effect.flatMap((rows) => {
        const row = rows[0]
        if (row === undefined) return Effect.succeed(Option.none())
        if (typeof row.record !== "string") {
          return Effect.fail(
            new OAuthError.TokenStoreError({ operation: "get", reason: "Corrupt", key, detail: "not a token record" })
          )
        }
        return Effect.succeed(Option.some({ text: row.record, version: internal.toNumber(row.version) }))
      })
    )

  const set = (
    key: string,
    record: string,
    writeOptions?: TokenStore.WriteOptions
  ): Effect.Effect<number, OAuthError.TokenStoreError | OAuthError.VersionConflict> =>
    Effect.suspend(() => {
      const expected = writeOptions?.expectedVersion
      const write = Effect.suspend(() => {
        if (expected === undefined) {
          return sql<{ readonly version: unknown }>`INSERT INTO ${
            sql(tables.tokens)
          } (key, version, record, updated_at) VALUES (${key}, ${next}, ${record}, ${now})
ON CONFLICT (key) DO UPDATE SET version = excluded.version, record = excluded.record, updated_at = excluded.updated_at
RETURNING version`
        }
        if (expected === null) {
          return sql<{ readonly version: unknown }>`INSERT INTO ${
            sql(tables.tokens)
          } (key, version, record, updated_at) VALUES (${key}, ${next}, ${record}, ${now})
ON CONFLICT (key) DO NOTHING
RETURNING version`
        }
        return sql<{ readonly version: unknown }>`UPDATE ${
          sql(tables.tokens)
        } SET version = ${next}, record = ${record}, updated_at = ${now}
WHERE key = ${key} AND version = ${expected}
RETURNING version`
      })
      const written = expected === undefined
        ? Effect.flatMap(write, (rows) =>
          Option.match(firstVersion(rows), {
            onNone: () => Effect.dieMessage("an unconditional write returned no version"),
            onSome: Effect.succeed
          }))
        : conditional(key, expected, Effect.map(write, firstVersion))
      return Effect.catchTag(written, "SqlError", (error) => Effect.fail(internal.unavailable("set", key)(error)))
    })

  const remove = (
    key: string,
    writeOptions?: TokenStore.WriteOptions
  ): Effect.Effect<boolean, OAuthError.TokenStoreError | OAuthError.VersionConflict> => {
    const expected = writeOptions?.expectedVersion
    const removed: Effect.Effect<boolean, SqlError | OAuthError.VersionConflict> = expected === undefined
      ? Effect.map(
        sql`DELETE FROM ${sql(tables.tokens)} WHERE key = ${key} RETURNING key`,
        (rows) => rows.length > 0
      )
      : expected === null
      // "Only if the key has no record": nothing to remove, unless a record is there.
      ? Effect.flatMap(currentVersion(key), (actual) =>
        actual === null
          ? Effect.succeed(false)
          : Effect.fail(new OAuthError.VersionConflict({ key, expected, actual })))
      : conditional(
        key,
        expected,
        Effect.map(
          sql`DELETE FROM ${sql(tables.tokens)} WHERE key = ${key} AND version = ${expected} RETURNING key`,
          (rows) => rows.length > 0 ? Option.some(true) : Option.none()
        )
      )
    return Effect.catchTag(removed, "SqlError", (error) => Effect.fail(internal.unavailable("remove", key)(error)))
  }

  return { get, set, remove }
}
