/**
 * The third migration (the second is the pending authorizations' nonce): the lock's waiting line and
 * session-held locks.
 *
 * - `<prefix>lock_waiters`: one row per process waiting for a key's lock, with a ticket drawn from the
 *   store's sequence and a short lease its waiter renews; a waiter takes the lock only when no live
 *   ticket before its own waits for the key, so waiters are served in arrival order across processes
 *   (SPEC S47), and a dead waiter's ticket runs out.
 * - `<prefix>locks.session`: not 0 when the holder also holds the key's PostgreSQL advisory lock,
 *   which dies with its database session; whoever holds that advisory lock next may take such a row
 *   over before its lease ends (S45). The store keeps there which run of the server the lock was
 *   taken in, so that a restart, which ends every session, never counts as the holder's death.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as CreateTables from "./0001_create_tables.js"

/**
 * The names of the tables this migration adds or changes.
 *
 * @since 0.1.0
 * @category models
 */
export interface Tables extends CreateTables.Tables {
  /** `key`, `ticket` → `owner`, `expires_at`: processes waiting for a key's lock, in ticket order. */
  readonly waiters: string
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
    yield* sql`ALTER TABLE ${sql(tables.locks)} ADD COLUMN session integer NOT NULL DEFAULT 0`
    yield* sql`CREATE TABLE ${sql(tables.waiters)} (
  key text NOT NULL,
  ticket bigint NOT NULL,
  owner text NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (key, ticket)
)`
    yield* sql.onDialectOrElse({
      pg: () => Effect.void,
      orElse: () =>
        sql`CREATE TRIGGER ${sql(`${tables.waiters}_ticket_insert`)} AFTER INSERT ON ${sql(tables.waiters)} BEGIN
  UPDATE ${sql(tables.sequence)} SET value = NEW.ticket
  WHERE name = 'sequence' AND value < NEW.ticket;
END`
    })
  })
