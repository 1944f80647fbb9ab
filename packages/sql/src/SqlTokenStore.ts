/**
 * A `TokenStore` on an `@effect/sql` database, shared by every process that points at it: SQLite (a
 * file on one machine) or PostgreSQL (any number of machines).
 *
 * - A backend of `TokenStore.make`: rows keep the record text the core encodes (and decodes, whole or
 *   not at all: a corrupt row is a `TokenStoreError` with reason `Corrupt` and stays as it is).
 * - Compare-and-set is one conditional statement (`INSERT … ON CONFLICT DO NOTHING`,
 *   `UPDATE … WHERE key = ? AND version = ?`), judged by the rows it returns. Versions and fences
 *   come from one sequence, drawn inside the writing statement (PostgreSQL `nextval`; SQLite a counter
 *   row that triggers keep up to date), so a key removed and written again never gets back a version
 *   it had, and no statement needs a transaction.
 * - The per-key lock is a lease row, taken in one statement (insert, or take over a row whose lease
 *   ran out) and released by deleting it only while the owner matches. Leases are computed and
 *   compared on the DATABASE's clock, so processes on machines whose clocks disagree still agree.
 *   Leases are at most `maxLease`; with `renew: true` the holder renews its lease every third of it
 *   while the lock's scope is open. Releasing happens at once when the scope closes; a failed
 *   release is retried in the background (S45).
 * - Waiters are served in arrival order across processes (S47): fibers of one store queue in memory;
 *   the one in front takes a ticket in `<prefix>lock_waiters` and takes the lock only when no live
 *   ticket is before its own. SQLite waiters look every `lockPollInterval` (10 ms).
 * - PostgreSQL: the lock also lives with a database session. The store reserves one connection of
 *   the pool for its locks and takes the key's advisory lock (`pg_try_advisory_lock`) on it before the
 *   row; whoever holds the advisory lock may take over a row whose holder held it too in the same run
 *   of the server. A killed holder's session ends, so its key is free at once, not after the lease;
 *   the lease row remains the fallback, and the only way after a restart of the database, which ends
 *   the sessions of live holders too. Releases `NOTIFY` the waiters (`LISTEN` through `@effect/sql-pg`'s client), so a
 *   waiter in another process looks again at once; the 50 ms poll is the fallback. Give the client
 *   a pool of at least 2 connections. `awaitChange` completes at a NOTIFY sent after every write and
 *   at the release's (on SQLite, at a write or release by this store), so a waiter can adopt what the
 *   holder stored without the lock, before the holder has released it.
 * - Tables are created by the package's migrations, recorded in `<prefix>migrations`, when the layer
 *   is built.
 * - SQLite: give every process one client per database file, with a busy timeout
 *   (`PRAGMA busy_timeout`), so that writers of other processes wait for each other briefly.
 *
 * @since 0.1.0
 */
import type * as OAuthError from "@effect-oauth/core/OAuthError"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import type * as Migrator from "@effect/sql/Migrator"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import * as Data from "effect/Data"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { createHash } from "node:crypto"
import * as Records from "./internal/records.js"
import * as internal from "./internal/tables.js"

/**
 * @example
 * ```ts
 * import { SqlTokenStore } from "@effect-oauth/sql"
 *
 * // Tables `myapp_tokens`, `myapp_locks`, …; waiters look again every 25 ms; leases of at most 5 minutes.
 * const options: SqlTokenStore.Options = { tablePrefix: "myapp_", lockPollInterval: "25 millis", maxLease: "5 minutes" }
 * const TokenStoreLive = SqlTokenStore.layer(options)
 * ```
 *
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
   * The pause between two looks at a held lock (default 10 ms on SQLite; 50 ms on PostgreSQL, where
   * waiters are woken by `NOTIFY` and the poll is only the fallback, e.g. for a holder that died).
   */
  readonly lockPollInterval?: Duration.DurationInput | undefined
  /**
   * The largest lease the store grants (default 10 minutes): a longer one asked for is cut to it; a
   * holder keeps its lock for as long as its scope is open by renewing the lease (S42, S45).
   */
  readonly maxLease?: Duration.DurationInput | undefined
}

/** A lock is held elsewhere, or an earlier waiter is in line: look again later. */
class Busy extends Data.TaggedError("Busy")<{}> {}

/** The `listen` of a PostgreSQL client (`@effect/sql-pg`), found on the client without depending on it. */
const listenOf = (
  client: SqlClient.SqlClient
): ((channel: string) => Stream.Stream<string, SqlError>) | undefined =>
  Predicate.hasProperty(client, "listen") && Predicate.isFunction(client.listen)
    ? (client.listen as (channel: string) => Stream.Stream<string, SqlError>).bind(client)
    : undefined

/** The NOTIFY payload's prefix for a written record (a bare digest is a released lock). */
const changedPrefix = "w:"

/** The NOTIFY payload for a key: bounded, whatever the key's length. */
const digestOf = (key: string): string => createHash("md5").update(key, "utf8").digest("hex")

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value))

/**
 * Runs the package's migrations: creates the tables of `options.tablePrefix` if they are missing.
 * The layers of this package run it when they are built; call it yourself to migrate at deploy time.
 *
 * @example
 * ```ts
 * import { SqlTokenStore } from "@effect-oauth/sql"
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Effect } from "effect"
 *
 * // At deploy time: create the tables, then start the instances.
 * const program = SqlTokenStore.migrate({ tablePrefix: "myapp_" }).pipe(
 *   Effect.provide(SqliteClient.layer({ filename: ":memory:" }))
 * )
 * const applied = await Effect.runPromise(program)
 * assert.ok(applied.length > 0)
 * ```
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

/**
 * Builds the store on the `SqlClient` in context, after running the migrations.
 *
 * @example
 * ```ts
 * import { SqlTokenStore } from "@effect-oauth/sql"
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* SqlTokenStore.make()
 *   return yield* store.get("user-1")
 * }).pipe(Effect.scoped, Effect.provide(SqliteClient.layer({ filename: ":memory:" })))
 * assert.ok(Option.isNone(await Effect.runPromise(program)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<TokenStore.Service, SqlError | Migrator.MigrationError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const { dialect, sql } = yield* internal.client
    const tables = yield* internal.tablesOf(options.tablePrefix)
    yield* internal.migrate(tables)
    const now = internal.nowMillis(sql, dialect)
    const next = internal.nextValue(sql, dialect, tables)
    const storeScope = yield* Effect.scope
    const pollMillis = clamp(
      Duration.toMillis(options.lockPollInterval ?? Duration.millis(dialect === "pg" ? 50 : 10)),
      1,
      60_000
    )
    const maxLeaseMillis = clamp(Duration.toMillis(options.maxLease ?? Duration.minutes(10)), 100, 86_400_000)
    const listen = dialect === "pg" ? listenOf(yield* SqlClient.SqlClient) : undefined

    const { get, remove, set } = Records.make({ sql, tables, now, next })

    // --- locks ---------------------------------------------------------------------------------
    //
    // In this process, fibers queue per key in memory (FIFO, handed on at once). The one in front
    // stands in the key's waiting line across processes (a ticket row), and takes the lock when no
    // live ticket is before its own and the lock row is free: its lease ran out, or, on PostgreSQL,
    // its holder's advisory lock is gone with its session. Holders renew their lease every third of
    // it; releasing deletes the row (retried on failure) and, on PostgreSQL, NOTIFYs the waiters.

    const inProcess = yield* TokenStore.makeLockTable
    const ticketLeaseMillis = 1500

    /** Waiters of this store by key digest, woken by NOTIFY (PostgreSQL) or by a release here. */
    const sleepers = new Map<string, Set<Deferred.Deferred<void>>>()
    /** Wake-ups per key digest so far: a wake-up that came during an attempt is not lost. */
    const wakeups = new Map<string, number>()
    /** Waiters for a sign that the key's record may have changed (`awaitChange`), by key digest. */
    const watchers = new Map<string, Set<Deferred.Deferred<void>>>()
    const wakeWatchers = (digest: string) => {
      const watching = watchers.get(digest)
      if (watching === undefined) return
      watchers.delete(digest)
      for (const watcher of watching) Deferred.unsafeDone(watcher, Exit.void)
    }
    const wake = (digest: string) => {
      wakeWatchers(digest)
      if (sleepers.has(digest) || wakeups.has(digest)) wakeups.set(digest, (wakeups.get(digest) ?? 0) + 1)
      const waiting = sleepers.get(digest)
      if (waiting === undefined) return
      sleepers.delete(digest)
      for (const sleeper of waiting) Deferred.unsafeDone(sleeper, Exit.void)
    }
    /** Sleeps until the key's lock may have been freed: a wake-up, or the poll interval. */
    const pause = (digest: string, seen: number) =>
      Effect.flatMap(Deferred.make<void>(), (sleeper) => {
        if ((wakeups.get(digest) ?? 0) !== seen) return Effect.void
        const waiting = sleepers.get(digest) ?? new Set()
        waiting.add(sleeper)
        sleepers.set(digest, waiting)
        return Deferred.await(sleeper).pipe(
          Effect.timeoutOption(Duration.millis(pollMillis)),
          Effect.ensuring(Effect.sync(() => {
            waiting.delete(sleeper)
            if (waiting.size === 0 && sleepers.get(digest) === waiting) sleepers.delete(digest)
          }))
        )
      })
    /** Completes at the next write of the key or release of its lock: NOTIFY (PostgreSQL) or here. */
    const awaitChange = (key: string) =>
      Effect.uninterruptibleMask((restore) =>
        Effect.flatMap(Deferred.make<void>(), (watcher) => {
          const digest = digestOf(key)
          const watching = watchers.get(digest) ?? new Set()
          watching.add(watcher)
          watchers.set(digest, watching)
          return restore(Deferred.await(watcher)).pipe(
            Effect.ensuring(Effect.sync(() => {
              watching.delete(watcher)
              if (watching.size === 0 && watchers.get(digest) === watching) watchers.delete(digest)
            }))
          )
        })
      )
    const channel = tables.locks
    if (listen !== undefined) {
      // Interrupted without waiting when the store closes: after the database restarted, the
      // client's UNLISTEN on its dead listening connection may never answer.
      const listener = yield* Effect.forkDaemon(
        Stream.runForEach(
          listen(channel),
          (payload) =>
            Effect.sync(() =>
              payload.startsWith(changedPrefix) ? wakeWatchers(payload.slice(changedPrefix.length)) : wake(payload)
            )
        ).pipe(
          Effect.retry(Schedule.spaced(Duration.seconds(1))),
          Effect.ignore,
          Effect.interruptible
        )
      )
      yield* Scope.addFinalizer(storeScope, Fiber.interruptFork(listener))
    }

    /**
     * PostgreSQL: one reserved connection of the pool whose session holds this store's advisory
     * locks, so they end with it: when the process dies, its locks are free at once (S45). Reserved on
     * first use; a failing one is dropped (its locks go with it) and the next use reserves another.
     */
    let session: { readonly connection: SqlConnection.Connection; readonly scope: Scope.CloseableScope } | undefined
    const sessionPermit = yield* Effect.makeSemaphore(1)
    const openSession = sessionPermit.withPermits(1)(Effect.suspend(() => {
      if (session !== undefined) return Effect.succeed(session)
      return Effect.gen(function*() {
        const scope = yield* Scope.fork(storeScope, ExecutionStrategy.sequential)
        const connection = yield* Scope.extend(sql.reserve, scope).pipe(
          Effect.tapError(() => Scope.close(scope, Exit.void))
        )
        // Before the connection goes back to the pool, it lets go of every advisory lock it holds.
        yield* Scope.addFinalizer(
          scope,
          Effect.ignore(
            Effect.timeout(connection.execute("SELECT pg_advisory_unlock_all()", [], undefined), "1 second")
          )
        )
        const opened = { connection, scope }
        session = opened
        return opened
      })
    }))
    const onSession = <A>(
      run: (connection: SqlConnection.Connection) => Effect.Effect<A, SqlError>
    ): Effect.Effect<{ readonly value: A; readonly scope: Scope.CloseableScope }, SqlError> =>
      Effect.flatMap(openSession, (opened) =>
        run(opened.connection).pipe(
          Effect.map((value) => ({ value, scope: opened.scope })),
          Effect.tapError(() =>
            Effect.suspend(() => {
              if (session === opened) session = undefined
              return Scope.close(opened.scope, Exit.void)
            })
          )
        ))
    const advisoryArgs = (key: string) => [tables.locks, key]
    // A failing session is dropped by `onSession`; one retry reserves a fresh one (after a restart of
    // the database, the first use of the old connection fails).
    const tryAdvisory = (key: string) =>
      onSession((connection) =>
        Effect.map(
          connection.execute(
            "SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS locked",
            advisoryArgs(key),
            undefined
          ),
          (rows) => rows[0]?.locked === true
        )
      ).pipe(Effect.retry({ times: 1 }))
    const unlockAdvisory = (key: string, scope: Scope.CloseableScope) =>
      Effect.suspend(() =>
        session !== undefined && session.scope === scope
          ? Effect.asVoid(onSession((connection) =>
            connection.execute("SELECT pg_advisory_unlock(hashtext($1), hashtext($2))", advisoryArgs(key), undefined)
          ))
          : Effect.void // the session is gone, and its advisory locks with it
      )

    /**
     * PostgreSQL: which run of the database server this is (a hash of its start time), kept in the
     * row of a lock taken with the advisory lock. A restart ends every session, the live holders'
     * too, so a row of an earlier run is never taken over by session: only when its lease runs out,
     * which a live holder keeps renewing (S45).
     */
    const incarnation = sql.literal("hashtext(pg_postmaster_start_time()::text)")

    /**
     * Insert the lock row, or take over the key's row if its lease ran out, or if its holder's session
     * ended while the server kept running (the caller holds the key's advisory lock).
     */
    const tryAcquire = (key: string, owner: string, leaseMillis: number, sessionHeld: boolean) =>
      sql<{ readonly fence: unknown; readonly expires_at: unknown }>`INSERT INTO ${
        sql(tables.locks)
      } (key, owner, fence, expires_at, session) VALUES (${key}, ${owner}, ${next}, ${now} + ${leaseMillis}, ${
        sessionHeld ? incarnation : 0
      })
ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, fence = excluded.fence, expires_at = excluded.expires_at,
session = excluded.session
WHERE ${sql(tables.locks)}.expires_at <= ${now} OR (excluded.session <> 0 AND ${
        sql(tables.locks)
      }.session = excluded.session)
RETURNING fence, expires_at`.pipe(
        Effect.map((rows): Option.Option<TokenStore.Lock> =>
          rows[0] === undefined ? Option.none() : Option.some({
            key,
            fence: internal.toNumber(rows[0].fence),
            expiresAt: internal.toNumber(rows[0].expires_at)
          })
        )
      )

    /**
     * Whether the waiter with `ticket` must keep waiting, judged by reads only: a live ticket before
     * its own waits for the key, or (SQLite) a live lease holds it. Writes are only tried when they
     * can succeed, so waiters never contend for SQLite's write lock while a holder works.
     */
    const mustWait = (key: string, ticket: number) =>
      Effect.map(
        sql<{ readonly ahead: unknown; readonly held: unknown }>`SELECT (SELECT count(*) FROM ${
          sql(tables.waiters)
        } WHERE key = ${key} AND ticket < ${ticket} AND expires_at > ${now}) AS ahead, (SELECT count(*) FROM ${
          sql(tables.locks)
        } WHERE key = ${key} AND expires_at > ${now}) AS held`,
        (rows) =>
          internal.toNumber(rows[0]?.ahead ?? 0) > 0 ||
          (dialect === "sqlite" && internal.toNumber(rows[0]?.held ?? 0) > 0)
      )

    /** Runs `effect` every `millis` until it returns `false` or fails. Forked, interruptible. */
    const every = (millis: number, effect: Effect.Effect<boolean, SqlError>) =>
      Effect.forkIn(
        Effect.interruptible(
          Effect.repeat(
            Effect.zipRight(Effect.sleep(Duration.millis(millis)), Effect.orElseSucceed(effect, () => true)),
            { while: (again) => again }
          )
        ),
        storeScope
      )

    /** Retries `effect` in the background until it succeeds or `deadline` (database clock) passed. */
    const retryInBackground = (effect: Effect.Effect<void, SqlError>, until: number) =>
      Effect.asVoid(Effect.forkIn(
        Effect.interruptible(effect).pipe(
          Effect.retry({
            schedule: Schedule.exponential(Duration.millis(10)).pipe(
              Schedule.jittered,
              Schedule.union(Schedule.spaced(Duration.seconds(1)))
            ),
            until: () => Effect.sync(() => Date.now() >= until)
          }),
          Effect.ignore
        ),
        storeScope
      ))

    const releaseRow = (key: string, owner: string) =>
      Effect.asVoid(sql`DELETE FROM ${sql(tables.locks)} WHERE key = ${key} AND owner = ${owner}`)

    const notify = (key: string) =>
      dialect === "pg"
        ? Effect.ignore(sql`SELECT pg_notify(${channel}, ${digestOf(key)})`)
        : Effect.void

    /**
     * A written record is announced to `awaitChange` at once, before its writer releases the lock, so
     * that waiters in other processes read it a release earlier; lock waiters are not woken by it.
     */
    const written = <A, E>(key: string, write: Effect.Effect<A, E>) =>
      Effect.tap(write, () =>
        Effect.zipRight(
          Effect.sync(() => wakeWatchers(digestOf(key))),
          dialect === "pg"
            ? Effect.ignore(sql`SELECT pg_notify(${channel}, ${changedPrefix + digestOf(key)})`)
            : Effect.void
        ))

    const lock = (
      key: string,
      lockOptions: TokenStore.LockOptions
    ): Effect.Effect<TokenStore.Lock, OAuthError.TokenStoreError, Scope.Scope> => {
      const renew = lockOptions.renew === true
      const leaseMillis = clamp(Math.ceil(Duration.toMillis(lockOptions.lease)), 3, maxLeaseMillis)
      const digest = digestOf(key)
      const unavailable = internal.unavailable("lock", key)
      return Effect.flatMap(Effect.scope, (outer) =>
        // Taking a row and registering its release happen in uninterruptible steps, so an interrupted
        // waiter never leaves a row behind; the waits between attempts stay interruptible.
        Effect.uninterruptibleMask((restore) =>
          Effect.gen(function*() {
            const held = yield* Scope.fork(outer, ExecutionStrategy.sequential)
            const body = Effect.gen(function*() {
              // One fiber per key of this store goes on; the others queue here, in arrival order.
              yield* restore(
                Scope.extend(inProcess.acquire(key, renew ? Duration.infinity : Duration.millis(leaseMillis)), held)
              )
              const owner = globalThis.crypto.randomUUID()
              const ticketRows = yield* sql<{ readonly ticket: unknown }>`INSERT INTO ${
                sql(tables.waiters)
              } (key, ticket, owner, expires_at) VALUES (${key}, ${next}, ${owner}, ${now} + ${ticketLeaseMillis})
RETURNING ticket`
              const ticket = internal.toNumber(ticketRows[0]?.ticket)
              const dropTicket = Effect.ignore(
                sql`DELETE FROM ${sql(tables.waiters)} WHERE key = ${key} AND ticket = ${ticket}`
              )
              yield* Scope.addFinalizer(held, dropTicket)
              const heartbeat = yield* every(
                Math.floor(ticketLeaseMillis / 3),
                Effect.as(
                  sql`UPDATE ${sql(tables.waiters)} SET expires_at = ${now} + ${ticketLeaseMillis}
WHERE key = ${key} AND ticket = ${ticket}`,
                  true
                )
              )
              // Stopped however the wait ends: a heartbeat left running after a failed look (the
              // database went away) would keep this dead ticket alive, ahead of every later waiter.
              yield* Scope.addFinalizer(held, Fiber.interrupt(heartbeat))

              let seen = 0
              const attempt = Effect.gen(function*() {
                seen = wakeups.get(digest) ?? 0
                if (yield* restore(mustWait(key, ticket))) return yield* new Busy()
                let sessionScope: Scope.CloseableScope | undefined = undefined
                if (dialect === "pg") {
                  const advisory = yield* tryAdvisory(key)
                  if (!advisory.value) return yield* new Busy()
                  sessionScope = advisory.scope
                }
                const taken = yield* tryAcquire(key, owner, leaseMillis, sessionScope !== undefined).pipe(
                  Effect.tapError(() =>
                    sessionScope === undefined ? Effect.void : Effect.ignore(unlockAdvisory(key, sessionScope))
                  )
                )
                if (Option.isNone(taken)) {
                  if (sessionScope !== undefined) yield* Effect.ignore(unlockAdvisory(key, sessionScope))
                  return yield* new Busy()
                }
                return { lock: taken.value, sessionScope }
              })
              wakeups.set(digest, wakeups.get(digest) ?? 0)
              const { lock: acquired, sessionScope } = yield* Effect.retry(
                attempt.pipe(Effect.tapErrorTag("Busy", () => restore(pause(digest, seen)))),
                { while: (error) => error._tag === "Busy" }
              ).pipe(Effect.catchTag("Busy", () => Effect.dieMessage("the lock poll ended while busy")))
              if (!sleepers.has(digest)) wakeups.delete(digest)
              yield* Fiber.interrupt(heartbeat)
              yield* dropTicket

              // Held: released at once when the scope closes (a failed release is retried in the
              // background until the lease would have run out anyway); with `renew`, renewed until then.
              let until = Date.now() + leaseMillis
              let advisoryHeld = sessionScope !== undefined
              const dropAdvisory = Effect.suspend(() => {
                if (!advisoryHeld || sessionScope === undefined) return Effect.void
                advisoryHeld = false
                return Effect.ignore(unlockAdvisory(key, sessionScope))
              })
              yield* Scope.addFinalizer(
                held,
                Effect.gen(function*() {
                  // PostgreSQL: the next holder of the advisory lock may take over this row, so the
                  // advisory lock goes first and the waiters are told at once; the row follows.
                  yield* dropAdvisory
                  if (sessionScope !== undefined) yield* notify(key)
                  const released = yield* Effect.either(releaseRow(key, owner))
                  if (released._tag === "Left") yield* retryInBackground(releaseRow(key, owner), until)
                  if (sessionScope === undefined) yield* notify(key)
                  yield* Effect.sync(() => wake(digest))
                })
              )
              if (renew) {
                const renewal = yield* every(
                  Math.max(1, Math.floor(leaseMillis / 3)),
                  Effect.map(
                    sql<{ readonly expires_at: unknown }>`UPDATE ${
                      sql(tables.locks)
                    } SET expires_at = ${now} + ${leaseMillis}
WHERE key = ${key} AND owner = ${owner} RETURNING expires_at`,
                    (rows) => {
                      if (rows[0] === undefined) return false // taken over: no longer ours
                      until = Date.now() + leaseMillis
                      return true
                    }
                  )
                )
                yield* Scope.addFinalizer(held, Fiber.interrupt(renewal))
              } else if (sessionScope !== undefined) {
                // Not renewed: the session's advisory lock ends with the lease, like the row.
                const expiry = yield* Effect.forkIn(
                  Effect.interruptible(Effect.zipRight(Effect.sleep(Duration.millis(leaseMillis)), dropAdvisory)),
                  storeScope
                )
                yield* Scope.addFinalizer(held, Fiber.interrupt(expiry))
              }
              return acquired
            })
            return yield* body.pipe(
              Effect.catchTag("SqlError", (error) => Effect.fail(unavailable(error))),
              Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(held, exit))
            )
          })
        ))
    }

    return TokenStore.make({
      get,
      set: (key, text, options) => written(key, set(key, text, options)),
      remove,
      lock,
      awaitChange
    })
  })

/**
 * The store on the `SqlClient` in context; builds (migrates) once.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { SqlTokenStore } from "@effect-oauth/sql"
 * import { SqliteClient } from "@effect/sql-sqlite-node"
 * import { Effect, Layer, Option } from "effect"
 *
 * // One database file shared by every process of this machine (PostgreSQL: `PgClient.layer`).
 * const TokenStoreLive = SqlTokenStore.layer().pipe(Layer.provide(SqliteClient.layer({ filename: ":memory:" })))
 *
 * const program = Effect.flatMap(TokenStore.TokenStore, (store) => store.get("user-1"))
 * assert.ok(Option.isNone(await Effect.runPromise(Effect.provide(program, TokenStoreLive))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<TokenStore.TokenStore, SqlError | Migrator.MigrationError, SqlClient.SqlClient> =>
  Layer.scoped(TokenStore.TokenStore, make(options))
