/**
 * The databases of the tests: PostgreSQL from the project's `globalSetup` (`inject("pgUrl")`) and
 * SQLite files in a temporary directory.
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, inject } from "vitest"

/** A database the tests run against, and how to get a new client (connection) to it. */
export interface Database {
  readonly name: "SQLite" | "PostgreSQL"
  /** A new client each time it is built: a separate connection (pool), like another process. */
  readonly client: Layer.Layer<SqlClient.SqlClient, SqlError>
}

/** A temporary directory, deleted after the file's tests. */
export const tempDir = (label: string): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), `effect-oauth-${label}-`))
  afterAll(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/**
 * A SQLite client on `filename`, with a busy timeout so that writers in other processes wait for
 * each other instead of failing at once.
 */
export const sqliteClient = (filename: string): Layer.Layer<SqlClient.SqlClient, SqlError> =>
  Layer.effectDiscard(
    Effect.flatMap(SqliteClient.SqliteClient, (sql) => sql.unsafe("PRAGMA busy_timeout = 5000"))
  ).pipe(
    Layer.provideMerge(SqliteClient.layer({ filename })),
    Layer.orDie
  )

/** A PostgreSQL client (pool) on the tests' database. */
export const pgClient = (
  options: { readonly maxConnections?: number } = {}
): Layer.Layer<SqlClient.SqlClient, SqlError> =>
  PgClient.layer({
    url: Redacted.make(inject("pgUrl")),
    maxConnections: options.maxConnections ?? 10
  })

/** Both databases: a fresh SQLite file (in `dir`) and the PostgreSQL database. */
export const databases = (dir: string): ReadonlyArray<Database> => [
  { name: "SQLite", client: sqliteClient(path.join(dir, `${randomUUID()}.sqlite`)) },
  { name: "PostgreSQL", client: pgClient() }
]
