/**
 * The second migration: a `nonce` column for pending authorizations, holding the OpenID Connect nonce
 * of a sign-in that requested `openid` (null otherwise, and for rows written before it).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { Tables } from "./0001_create_tables.js"

/**
 * The migration for tables of the given names.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (tables: Pick<Tables, "pending">): Effect.Effect<void, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    yield* sql`ALTER TABLE ${sql(tables.pending)} ADD COLUMN nonce text`
  })
