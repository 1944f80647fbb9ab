/**
 * A `TokenStore` on an `@effect/sql` database, shared by every process that points at it: SQLite (a
 * file on one machine) or PostgreSQL (any number of machines).
 *
 * - Records are the core's encoded token sets (`TokenStore.encodeRecord`), decoded whole or not at
 *   all: a corrupt row is a `TokenStoreError` with reason `Corrupt` and stays as it is.
 * - Compare-and-set is one conditional statement (`INSERT … ON CONFLICT DO NOTHING`,
 *   `UPDATE … WHERE key = ? AND version = ?`), judged by the rows it returns. Versions and fences
 *   come from one sequence, drawn inside the writing statement (PostgreSQL `nextval`; SQLite a counter
 *   row that triggers keep up to date), so a key removed and written again never gets back a version
 *   it had, and no statement needs a transaction.
 * - The per-key lock is a lease row, taken in one statement (insert, or take over a row whose lease
 *   ran out) and released by deleting it only while the owner matches. Leases are computed and
 *   compared on the DATABASE's clock, so processes on machines whose clocks disagree still agree.
 *   A killed holder's row simply runs out. Waiters poll with a short backoff.
 * - Tables are created by the package's migrations, recorded in `<prefix>migrations`, when the layer
 *   is built.
 * - SQLite: give every process one client per database file, with a busy timeout
 *   (`PRAGMA busy_timeout`), so that writers of other processes wait for each other briefly.
 *
 * @since 0.1.0
 */
import * as OAuthError from "@effect-oauth/core/OAuthError"
import type * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import type * as Migrator from "@effect/sql/Migrator"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import * as internal from "./internal/tables.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /**
   * Prefix of the store's tables: `<prefix>tokens`, `<prefix>locks`, `<prefix>pending`,
   * `<prefix>sequence`, `<prefix>migrations`. Lowercase letters, digits and underscores; default
   * `effect_oauth_`.
   */
  readonly tablePrefix?: string | undefined
  /**
   * The longest pause between two attempts at a held lock (default 50 ms). Waiters start at 5 ms and
   * double up to this, with jitter.
   */
  readonly lockPollInterval?: Duration.DurationInput | undefined
}

/**
 * Runs the package's migrations: creates the tables of `options.tablePrefix` if they are missing.
 * The layers of this package run it when they are built; call it yourself to migrate at deploy time.
 *
 * @since 0.1.0
 * @category constructors
 */
export const migrate = (
  options: Pick<Options, "tablePrefix"> = {}
): Effect.Effect<
  ReadonlyArray<readonly [id: number, name: string]>,
  SqlError | Migrator.MigrationError,
  SqlClient.SqlClient
> => Effect.flatMap(internal.tablesOf(options.tablePrefix), internal.migrate)

interface Row {
  readonly version: unknown
  readonly record: unknown
}

/**
 * Builds the store on the `SqlClient` in context, after running the migrations.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<TokenStore.Service, SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const { dialect, sql } = yield* internal.client
    const tables = yield* internal.tablesOf(options.tablePrefix)
    yield* internal.migrate(tables)
    const now = internal.nowMillis(sql, dialect)
    const next = internal.nextValue(sql, dialect, tables)
    const maxPoll = Math.max(1, Duration.toMillis(options.lockPollInterval ?? Duration.millis(50)))

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

    const get = (key: string): Effect.Effect<Option.Option<TokenStore.Versioned>, OAuthError.TokenStoreError> =>
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
          const version = internal.toNumber(row.version)
          return Effect.map(TokenStore.decodeRecord(key, row.record), (tokens) => Option.some({ tokens, version }))
        })
      )

    const set = (
      key: string,
      tokens: TokenSet.TokenSet,
      writeOptions?: TokenStore.WriteOptions
    ): Effect.Effect<number, OAuthError.TokenStoreError | OAuthError.VersionConflict> =>
      Effect.flatMap(TokenStore.encodeRecord(tokens), (record) => {
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

    /** One attempt: insert the lock row, or take over the key's row if its lease ran out. */
    const tryAcquire = (key: string, owner: string, leaseMillis: number) =>
      sql<{ readonly fence: unknown; readonly expires_at: unknown }>`INSERT INTO ${
        sql(tables.locks)
      } (key, owner, fence, expires_at) VALUES (${key}, ${owner}, ${next}, ${now} + ${leaseMillis})
ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, fence = excluded.fence, expires_at = excluded.expires_at
WHERE ${sql(tables.locks)}.expires_at <= ${now}
RETURNING fence, expires_at`.pipe(
        Effect.map((rows): Option.Option<TokenStore.Lock> =>
          rows[0] === undefined ? Option.none() : Option.some({
            key,
            fence: internal.toNumber(rows[0].fence),
            expiresAt: internal.toNumber(rows[0].expires_at)
          })
        ),
        Effect.mapError(internal.unavailable("lock", key))
      )

    /** Deletes the row only while this acquisition owns it: a late release never frees a newer holder. */
    const release = (key: string, owner: string) =>
      Effect.ignore(sql`DELETE FROM ${sql(tables.locks)} WHERE key = ${key} AND owner = ${owner}`)

    const pause = (attempt: number) =>
      Effect.flatMap(
        Random.nextRange(0.5, 1),
        (jitter) => Effect.sleep(Duration.millis(Math.min(maxPoll, 5 * 2 ** Math.min(attempt, 16)) * jitter))
      )

    const lock = (
      key: string,
      lockOptions: { readonly lease: Duration.DurationInput }
    ): Effect.Effect<TokenStore.Lock, OAuthError.TokenStoreError, Scope.Scope> => {
      const leaseMillis = Math.max(1, Math.ceil(Duration.toMillis(lockOptions.lease)))
      return Effect.flatMap(Effect.scope, (scope) =>
        // Taking the row and registering its release happen in one uninterruptible step, so an
        // interrupted waiter never leaves a row behind; the pauses between attempts stay interruptible.
        Effect.uninterruptibleMask((restore) => {
          const owner = globalThis.crypto.randomUUID()
          const loop = (attempt: number): Effect.Effect<TokenStore.Lock, OAuthError.TokenStoreError> =>
            Effect.flatMap(tryAcquire(key, owner, leaseMillis), (acquired) =>
              Option.isSome(acquired)
                ? Effect.as(Scope.addFinalizer(scope, release(key, owner)), acquired.value)
                : Effect.zipRight(restore(pause(attempt)), Effect.suspend(() => loop(attempt + 1))))
          return loop(0)
        }))
    }

    return TokenStore.TokenStore.of({ get, set, remove, lock })
  })

/**
 * The store on the `SqlClient` in context; builds (migrates) once.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<TokenStore.TokenStore, SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Layer.effect(TokenStore.TokenStore, make(options))
