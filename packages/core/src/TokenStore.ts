/**
 * Where token sets live between requests and processes, keyed by a caller-chosen key (a user id, a
 * session id). Every record has a version for compare-and-set, and every key has a lock with a lease
 * (SPEC S20): a lock dies with its holder once the lease runs out, so a killed process never blocks
 * the others for longer than the lease.
 *
 * The memory store lives here; file, SQLite and PostgreSQL stores live in other packages and pass the
 * same conformance suite (`@effect-oauth/testing`'s `TokenStoreSuite`).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import type * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as LockTable from "./internal/lockTable.js"
import * as MemoryBackend from "./internal/memoryBackend.js"
import { describeParseError, TokenStoreError, VersionConflict } from "./OAuthError.js"
import * as TokenSet from "./TokenSet.js"

/**
 * A stored token set with its version. Versions grow with every write of the key.
 *
 * `refreshSentAt` is the possibly-spent mark (SPEC S44): a refresh of these tokens' refresh token was
 * sent at that instant and its answer never came back, so the server may have rotated it. Nobody
 * sends that refresh token again automatically.
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.TokenStore
 *   yield* store.set("user-1", tokens)
 *   const found: Option.Option<TokenStore.Versioned> = yield* store.get("user-1")
 *   return Option.map(found, (record) => record.version)
 * })
 * assert.deepStrictEqual(await Effect.runPromise(Effect.provide(program, TokenStore.layerMemory)), Option.some(1))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Versioned {
  readonly tokens: TokenSet.TokenSet
  readonly version: number
  readonly refreshSentAt?: DateTime.Utc | undefined
}

/**
 * `expectedVersion`: absent — write unconditionally; `null` — only if the key has no record; a number —
 * only if the record is at that version.
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.makeMemory
 *   const first: TokenStore.WriteOptions = { expectedVersion: null }
 *   const version = yield* store.set("user-1", tokens, first)
 *   // A second "create only" write finds the record and fails with a VersionConflict.
 *   const again = yield* Effect.flip(store.set("user-1", tokens, first))
 *   return [version, again._tag]
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), [1, "VersionConflict"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface WriteOptions {
  readonly expectedVersion?: number | null | undefined
}

/**
 * A write of tokens: `refreshSentAt` marks the refresh token as possibly spent (SPEC S44); a write
 * without it clears the mark.
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.makeMemory
 *   const options: TokenStore.SetOptions = { expectedVersion: null, refreshSentAt: now }
 *   yield* store.set("user-1", tokens, options)
 *   const found = yield* store.get("user-1")
 *   return Option.map(found, (record) => record.refreshSentAt !== undefined)
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), Option.some(true))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface SetOptions extends WriteOptions {
  readonly refreshSentAt?: DateTime.Utc | undefined
}

/**
 * `lease`: how long a holder that stops renewing keeps others out. `renew`: keep the lease renewed
 * (every lease / 3) while the lock's scope is open, so a live holder never loses the lock (SPEC S45);
 * the holder then bounds how long it holds the lock itself.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * const options: TokenStore.LockOptions = { lease: "30 seconds", renew: true }
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.makeMemory
 *   // The lock is held until the scope closes; the renewal keeps the lease alive meanwhile.
 *   return yield* Effect.scoped(Effect.map(store.lock("user-1", options), (lock) => lock.key))
 * })
 * assert.strictEqual(await Effect.runPromise(program), "user-1")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LockOptions {
  readonly lease: Duration.DurationInput
  readonly renew?: boolean | undefined
}

/**
 * A held lock. `fence` grows with every acquisition of the key, so a write can tell an old holder
 * from the current one.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.makeMemory
 *   const first: TokenStore.Lock = yield* Effect.scoped(store.lock("user-1", { lease: "10 seconds" }))
 *   const second = yield* Effect.scoped(store.lock("user-1", { lease: "10 seconds" }))
 *   return second.fence > first.fence
 * })
 * assert.strictEqual(await Effect.runPromise(program), true)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Lock {
  readonly key: string
  readonly fence: number
  /** When the lease runs out, in epoch milliseconds of the store's clock. */
  readonly expiresAt: number
}

/**
 * A stored record as a backend keeps it: opaque text (the token set and the S44 mark, possibly
 * sealed) and its version.
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* TokenStore.makeMemoryBackend
 *   yield* TokenStore.make(backend).set("user-1", tokens)
 *   const raw: Option.Option<TokenStore.RawRecord> = yield* backend.get("user-1")
 *   return Option.map(raw, (record) => JSON.parse(record.text).accessToken)
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), Option.some("at-1"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface RawRecord {
  readonly text: string
  readonly version: number
}

/**
 * What a store implementation provides: raw record operations and a per-key lock. Encoding,
 * decoding and sealing happen once, above every backend ({@link make}).
 *
 * @example
 * ```ts
 * import { OAuthError, TokenStore } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * // A backend whose medium is down; `TokenStore.make` turns it into a store.
 * const unavailable = new OAuthError.TokenStoreError({ operation: "get", reason: "Unavailable" })
 * const down: TokenStore.Backend = {
 *   get: () => Effect.fail(unavailable),
 *   set: () => Effect.fail(unavailable),
 *   remove: () => Effect.succeed(false),
 *   lock: () => Effect.fail(unavailable)
 * }
 * const error = await Effect.runPromise(Effect.flip(TokenStore.make(down).get("user-1")))
 * assert.strictEqual(error.reason, "Unavailable")
 * assert.deepStrictEqual(await Effect.runPromise(TokenStore.make(down).remove("user-1")), false)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Backend {
  readonly get: (key: string) => Effect.Effect<Option.Option<RawRecord>, TokenStoreError>
  /** Writes the text and returns the record's new version. */
  readonly set: (
    key: string,
    text: string,
    options?: WriteOptions
  ) => Effect.Effect<number, TokenStoreError | VersionConflict>
  /** Removes the record; `false` when there was none. */
  readonly remove: (key: string, options?: WriteOptions) => Effect.Effect<boolean, TokenStoreError | VersionConflict>
  /**
   * Waits for the key's lock and holds it until the scope closes or, when it is not renewed, the
   * lease runs out, whichever comes first.
   */
  readonly lock: (key: string, options: LockOptions) => Effect.Effect<Lock, TokenStoreError, Scope.Scope>
  /** Optional: completes at the next sign that the key's record may have changed (a write, a release). */
  readonly awaitChange?: ((key: string) => Effect.Effect<void>) | undefined
}

/**
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store: TokenStore.Service = yield* TokenStore.TokenStore
 *   const version = yield* store.set("user-1", tokens)
 *   // Compare-and-set: only if nobody wrote the key since.
 *   yield* store.set("user-1", tokens, { expectedVersion: version })
 *   return yield* store.remove("user-1")
 * })
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, TokenStore.layerMemory)), true)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly get: (key: string) => Effect.Effect<Option.Option<Versioned>, TokenStoreError>
  /** Writes the record and returns its new version. */
  readonly set: (
    key: string,
    tokens: TokenSet.TokenSet,
    options?: SetOptions
  ) => Effect.Effect<number, TokenStoreError | VersionConflict>
  /** Removes the record; `false` when there was none. */
  readonly remove: (key: string, options?: WriteOptions) => Effect.Effect<boolean, TokenStoreError | VersionConflict>
  /**
   * Waits for the key's lock and holds it until the scope closes or, when it is not renewed, the
   * lease runs out, whichever comes first.
   */
  readonly lock: (key: string, options: LockOptions) => Effect.Effect<Lock, TokenStoreError, Scope.Scope>
  /** Optional: completes at the next sign that the key's record may have changed (a write, a release). */
  readonly awaitChange?: ((key: string) => Effect.Effect<void>) | undefined
  /** The raw operations below this store, when it was made with {@link make} (encrypted stores wrap them). */
  readonly backend?: Backend | undefined
}

/**
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect, Option } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.TokenStore
 *   return yield* store.get("nobody")
 * })
 * assert.ok(Option.isNone(await Effect.runPromise(Effect.provide(program, TokenStore.layerMemory))))
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenStore extends Context.Tag("@effect-oauth/core/TokenStore")<TokenStore, Service>() {}

/** The stored record: the token set's fields and the possibly-spent mark (SPEC S44). */
const RecordJson = Schema.parseJson(Schema.Struct({
  ...TokenSet.TokenSet.fields,
  refreshSentAt: Schema.optional(Schema.DateTimeUtc)
}))

const corrupt = (key: string, error: ParseResult.ParseError) =>
  new TokenStoreError({ operation: "get", reason: "Corrupt", key, detail: describeParseError(error, "record") })

const unencodable = (key: string | undefined) =>
  new TokenStoreError({
    operation: "set",
    reason: "Corrupt",
    ...(key === undefined ? {} : { key }),
    detail: "the tokens cannot be encoded (a value out of range)"
  })

/**
 * Encodes a record as its stored text. Total: a value that cannot be encoded (an instant out of
 * range) is a `TokenStoreError`, never a defect (SPEC S33).
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const text = await Effect.runPromise(TokenStore.encodeText("user-1", tokens, now))
 * assert.strictEqual(JSON.parse(text).refreshSentAt, "2026-01-01T12:00:00.000Z")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const encodeText = (
  key: string,
  tokens: TokenSet.TokenSet,
  refreshSentAt?: DateTime.Utc | undefined
): Effect.Effect<string, TokenStoreError> =>
  Effect.suspend(() =>
    Schema.encode(RecordJson)({ ...tokens, ...(refreshSentAt === undefined ? {} : { refreshSentAt }) })
  ).pipe(
    Effect.mapError(() => unencodable(key)),
    Effect.catchAllDefect(() => Effect.fail(unencodable(key)))
  )

/**
 * Decodes stored text; a corrupt record is a `TokenStoreError` that names the key and the problem's
 * place, never the content (SPEC S28).
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const text = await Effect.runPromise(TokenStore.encodeText("user-1", tokens))
 * const record = await Effect.runPromise(TokenStore.decodeText("user-1", text))
 * assert.strictEqual(Redacted.value(record.tokens.accessToken), "at-1")
 * assert.strictEqual(record.refreshSentAt, undefined)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeText = (
  key: string,
  text: string
): Effect.Effect<
  { readonly tokens: TokenSet.TokenSet; readonly refreshSentAt: DateTime.Utc | undefined },
  TokenStoreError
> =>
  Schema.decode(RecordJson)(text).pipe(
    Effect.map(({ refreshSentAt, ...fields }) => ({ tokens: new TokenSet.TokenSet(fields, true), refreshSentAt })),
    Effect.catchTag("ParseError", (error) => corrupt(key, error))
  )

/**
 * Encodes a token set as the stored JSON text (for stores not yet built with {@link make}).
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const text = await Effect.runPromise(TokenStore.encodeRecord(tokens))
 * assert.strictEqual(JSON.parse(text).issuedAt, "2026-01-01T12:00:00.000Z")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const encodeRecord = (tokens: TokenSet.TokenSet): Effect.Effect<string> => Effect.orDie(encodeText("", tokens))

/**
 * Decodes stored JSON text (for stores not yet built with {@link make}); a corrupt record is a
 * `TokenStoreError` that names the key and the problem's place, never the content (SPEC S28).
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * // A corrupt record names the key, never the content.
 * const error = await Effect.runPromise(Effect.flip(TokenStore.decodeRecord("user-1", "{\"accessToken\":1}")))
 * assert.strictEqual(error.reason, "Corrupt")
 * assert.strictEqual(error.key, "user-1")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeRecord = (key: string, text: string): Effect.Effect<TokenSet.TokenSet, TokenStoreError> =>
  Effect.map(decodeText(key, text), (record) => record.tokens)

/**
 * The token store over a backend: records are encoded once here, above the backend (compare
 * `KeyValueStore.make` in `@effect/platform`).
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = TokenStore.make(yield* TokenStore.makeMemoryBackend)
 *   yield* store.set("user-1", tokens)
 *   return yield* store.get("user-1")
 * })
 * assert.ok(Option.isSome(await Effect.runPromise(program)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (backend: Backend): Service => ({
  get: (key) =>
    Effect.flatMap(backend.get(key), (found) =>
      Option.isNone(found)
        ? Effect.succeed(Option.none())
        : Effect.map(decodeText(key, found.value.text), ({ refreshSentAt, tokens }) =>
          Option.some<Versioned>({
            tokens,
            version: found.value.version,
            ...(refreshSentAt === undefined ? {} : { refreshSentAt })
          }))),
  set: (key, tokens, options) =>
    Effect.flatMap(
      encodeText(key, tokens, options?.refreshSentAt),
      (text) => backend.set(key, text, { expectedVersion: options?.expectedVersion })
    ),
  remove: (key, options) => backend.remove(key, options),
  lock: (key, options) => backend.lock(key, options),
  ...(backend.awaitChange === undefined ? {} : { awaitChange: backend.awaitChange }),
  backend
})

/**
 * An in-process lock table on Effect's `Clock`: waiters are served in arrival order, a release hands
 * the lock to the first at once (S47), idle keys leave no state behind. With `renew`, a fiber in the
 * lock's scope extends the lease every lease / 3 until it closes (S45). Leases: whole ms, at least 3.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const locks = yield* TokenStore.makeLockTable
 *   const held = yield* Effect.scoped(Effect.zipRight(locks.acquire("user-1", "10 seconds"), locks.size))
 *   // The released key leaves no state behind.
 *   return [held, yield* locks.size]
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), [1, 0])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeLockTable: Effect.Effect<{
  acquire: (
    key: string,
    lease: Duration.DurationInput,
    options?: { readonly renew?: boolean | undefined }
  ) => Effect.Effect<Lock, never, Scope.Scope>
  size: Effect.Effect<number>
}> = LockTable.make

/**
 * The memory backend: records are kept as text, exactly as a persistent store would keep them. Its
 * `set` writes any text, which tests use to plant corrupt records.
 *
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* TokenStore.makeMemoryBackend
 *   // Plant a corrupt record, as a test of a store's error handling would.
 *   yield* backend.set("user-1", "not json")
 *   return yield* Effect.flip(TokenStore.make(backend).get("user-1"))
 * })
 * assert.strictEqual((await Effect.runPromise(program)).reason, "Corrupt")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemoryBackend: Effect.Effect<Backend> = MemoryBackend.make((key, expected, actual) =>
  new VersionConflict({ key, expected, actual })
)

/**
 * An in-memory store over {@link makeMemoryBackend}.
 *
 * @example
 * ```ts
 * import { TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"), tokenType: "Bearer", refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }), refreshExpiresAt: Option.none(), issuedAt: now, scopes: ["read"]
 * })
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.makeMemory
 *   yield* store.set("user-1", tokens)
 *   return Option.map(yield* store.get("user-1"), (record) => record.tokens.scopes)
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), Option.some(["read"]))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeMemory: Effect.Effect<Service> = Effect.map(makeMemoryBackend, make)

/**
 * @example
 * ```ts
 * import { TokenStore } from "@effect-oauth/core"
 * import { Effect, Option } from "effect"
 *
 * // A program that reads the store; the memory layer provides one for tests and single processes.
 * const program = Effect.flatMap(TokenStore.TokenStore, (store) => store.get("user-1"))
 * assert.ok(Option.isNone(await Effect.runPromise(Effect.provide(program, TokenStore.layerMemory))))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory: Layer.Layer<TokenStore> = Layer.effect(TokenStore, makeMemory)
