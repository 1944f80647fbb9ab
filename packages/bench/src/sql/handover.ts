/**
 * The lock hand-over figure, per store: a holder (one store instance, with its own connection or
 * file handle, as another process has) holds a key's lock, writes new tokens and releases; a waiter
 * (another instance) has been waiting for the lock. The figure is the time from the holder's write
 * to the waiter's read of the new tokens under the lock: what a waiter in another process pays at
 * a true expiry (SPEC S47; targets: PostgreSQL ≤ 20 ms, SQLite ≤ 50 ms).
 */
import { TokenSet, TokenStore } from "@effect-oauth/core"
import * as NodeTokenStore from "@effect-oauth/node/NodeTokenStore"
import { SqlTokenStore } from "@effect-oauth/sql"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { randomUUID } from "node:crypto"
import { mkdtempSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const rounds = 40

const tokens = (label: string) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-${label}`),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`rt-${label}`)),
    expiresAt: DateTime.unsafeMake(Date.now() + 3_600_000),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(Date.now()),
    scopes: []
  })

/** One round: holder writes and releases; returns the write → waiter's token time in ms. */
const round = (holder: TokenStore.Service, waiter: TokenStore.Service, key: string) =>
  Effect.gen(function*() {
    const held = yield* Scope.make()
    yield* Scope.extend(holder.lock(key, { lease: Duration.seconds(30), renew: true }), held)
    const label = randomUUID()
    const waiting = yield* Effect.fork(Effect.scoped(Effect.gen(function*() {
      yield* waiter.lock(key, { lease: Duration.seconds(30), renew: true })
      const record = yield* waiter.get(key)
      return [performance.now(), record] as const
    })))
    // The waiter is in line (its first look saw the lock held).
    yield* Effect.sleep(Duration.millis(30))
    yield* holder.set(key, tokens(label))
    const wrote = performance.now()
    yield* Scope.close(held, Exit.void)
    const [got, record] = yield* Fiber.join(waiting)
    const seen = Option.map(record, (found) => Redacted.value(found.tokens.accessToken))
    if (Option.getOrUndefined(seen) !== `at-${label}`) return yield* Effect.dieMessage("the waiter read old tokens")
    return got - wrote
  })

const figures = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
  return { p50: at(0.5), p95: at(0.95), max: sorted.at(-1) ?? NaN }
}

const measure = <E>(name: string, layer: Layer.Layer<TokenStore.TokenStore, E>) =>
  Effect.scoped(Effect.gen(function*() {
    const build = Effect.map(Layer.build(Layer.fresh(layer)), (context) => Context.get(context, TokenStore.TokenStore))
    const holder = yield* build
    const waiter = yield* build
    const key = `handover/${randomUUID()}`
    yield* holder.set(key, tokens("initial"))
    const samples: Array<number> = []
    for (let i = 0; i < rounds; i++) samples.push(yield* round(holder, waiter, key))
    return { name, ...figures(samples) }
  }))

/** The hand-over table for PostgreSQL at `pgUrl`, SQLite and the file store. */
export const handover = (pgUrl: string) =>
  Effect.gen(function*() {
    const dir = mkdtempSync(path.join(os.tmpdir(), "effect-oauth-handover-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const sqlite = Layer.effectDiscard(
      Effect.flatMap(SqliteClient.SqliteClient, (sql) => sql.unsafe("PRAGMA busy_timeout = 5000"))
    ).pipe(Layer.provideMerge(SqliteClient.layer({ filename: path.join(dir, "handover.sqlite") })))
    const rows = [
      yield* measure(
        "PostgreSQL",
        SqlTokenStore.layer({
          tablePrefix: `h_${randomUUID().replace(/-/g, "").slice(0, 8)}_`,
          lockPollInterval: Duration.millis(Number(process.env["HANDOVER_POLL_MS"] ?? 50))
        }).pipe(
          Layer.provide(PgClient.layer({ url: Redacted.make(pgUrl), maxConnections: 4 }))
        )
      ),
      yield* measure("SQLite", SqlTokenStore.layer().pipe(Layer.provide(sqlite))),
      yield* measure("file", NodeTokenStore.layerNode({ path: path.join(dir, "file", "tokens.json") }))
    ]
    const lines = [
      `lock hand-over: holder's write → waiter's token under the lock, ${rounds} rounds, two store instances`,
      "store       p50 ms  p95 ms  max ms  target",
      ...rows.map((row) =>
        [
          row.name.padEnd(10),
          row.p50.toFixed(1).padStart(7),
          row.p95.toFixed(1).padStart(7),
          row.max.toFixed(1).padStart(7),
          row.name === "PostgreSQL" ? "  ≤ 20" : row.name === "SQLite" ? "  ≤ 50" : "  -"
        ].join(" ")
      )
    ]
    return lines.join("\n")
  })
