/**
 * Encryption at rest for any `TokenStore` made with `TokenStore.make`: the whole stored text of every
 * record (tokens, expiry, scopes and the possibly-spent mark) is sealed with `Sealing` (AES-256-GCM,
 * key ids) before it reaches the backend, and opened when read. Versions and locks are the
 * backend's, so compare-and-set and leases work as before.
 *
 * A stored value is `v1.<key id>.<iv>.<ciphertext>` (base64url; a fresh random 96-bit IV for every
 * write). Its additional authenticated data binds the store key, so a sealed record copied to another
 * key does not open.
 *
 * Rotation: the first key seals, every listed key opens, so add a new key in front, let the records
 * be rewritten (every refresh rewrites one), then drop the old key. A value sealed with a key that is
 * not listed, or whose tag does not check out, reads as a `TokenStoreError` with reason `Corrupt`;
 * no error carries a token or key material.
 *
 * ```ts
 * const Store = EncryptedTokenStore.layerConfig().pipe(Layer.provide(TokenStore.layerMemory))
 * // OAUTH_STORE_KEYS=2025-10:<32 random bytes in base64>,2025-04:<the previous key>
 * ```
 *
 * @since 0.1.0
 */
import type * as Arr from "effect/Array"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { InvalidConfig, TokenStoreError } from "./OAuthError.js"
import * as Sealing from "./Sealing.js"
import * as TokenStore from "./TokenStore.js"

/**
 * A key: its id (letters, digits, `-`, `_`; written into every value it seals) and 32 bytes in
 * base64.
 *
 * @example
 * ```ts
 * import { EncryptedTokenStore } from "@effect-oauth/core"
 * import { Redacted } from "effect"
 *
 * const key: EncryptedTokenStore.Key = { id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }
 * assert.strictEqual(String(key.key), "<redacted>")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Key = Sealing.Key

/**
 * @example
 * ```ts
 * import { EncryptedTokenStore, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.none(),
 *   expiresAt: DateTime.add(now, { hours: 1 }),
 *   refreshExpiresAt: Option.none(),
 *   issuedAt: now,
 *   scopes: []
 * })
 * // 32 bytes in base64; in production, from `OAUTH_STORE_KEYS`.
 * const options: EncryptedTokenStore.Options = {
 *   keys: [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 * }
 *
 * const program = Effect.flatMap(TokenStore.makeMemory, (store) => EncryptedTokenStore.encrypt(store, options))
 * assert.strictEqual(typeof (await Effect.runPromise(program)).get, "function")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The first key seals; every key opens. */
  readonly keys: Arr.NonEmptyReadonlyArray<Key>
}

const problems: Record<Sealing.OpenError["reason"], string> = {
  Malformed: "is not a sealed value",
  UnknownKey: "was sealed with a key id that is not configured",
  Integrity: "failed its integrity check (altered, or sealed for another key)",
  TooLarge: "is too large"
}

const corrupt = (key: string, error: Sealing.OpenError) =>
  new TokenStoreError({ operation: "get", reason: "Corrupt", key, detail: `the record ${problems[error.reason]}` })

/**
 * Wraps a backend: record texts are sealed before `set` and opened after `get`. Fails with
 * `InvalidConfig` when a key is not 32 bytes of base64 or a key id is malformed or repeated.
 *
 * @example
 * ```ts
 * import { EncryptedTokenStore, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.none(),
 *   expiresAt: DateTime.add(now, { hours: 1 }),
 *   refreshExpiresAt: Option.none(),
 *   issuedAt: now,
 *   scopes: []
 * })
 * // 32 bytes in base64; in production, from `OAUTH_STORE_KEYS`.
 * const options: EncryptedTokenStore.Options = {
 *   keys: [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 * }
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* TokenStore.makeMemoryBackend
 *   const store = TokenStore.make(yield* EncryptedTokenStore.encryptBackend(backend, options))
 *   yield* store.set("user-1", tokens)
 *   // The backend holds only the sealed text.
 *   const raw = yield* backend.get("user-1")
 *   return Option.map(raw, (record) => record.text.startsWith("v1.2026-01."))
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), Option.some(true))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const encryptBackend = (
  backend: TokenStore.Backend,
  options: Options
): Effect.Effect<TokenStore.Backend, InvalidConfig> =>
  Effect.map(Sealing.makeKeyring(options.keys), (keyring) => ({
    get: (key) =>
      Effect.flatMap(backend.get(key), (found) =>
        Option.isNone(found)
          ? Effect.succeed(found)
          : Sealing.open(keyring, key, found.value.text).pipe(
            Effect.mapError((error) => corrupt(key, error)),
            Effect.map((text) => Option.some({ text, version: found.value.version }))
          )),
    set: (key, text, writeOptions) =>
      Effect.flatMap(Sealing.seal(keyring, key, text), (sealed) => backend.set(key, sealed, writeOptions)),
    remove: (key, writeOptions) => backend.remove(key, writeOptions),
    lock: (key, lockOptions) => backend.lock(key, lockOptions),
    ...(backend.awaitChange === undefined ? {} : { awaitChange: backend.awaitChange })
  }))

/**
 * Wraps `store` (made with `TokenStore.make`): its records are sealed at rest. Fails with
 * `InvalidConfig` when a key is not 32 bytes of base64 or a key id is malformed or repeated, and when
 * the store does not expose its backend.
 *
 * @example
 * ```ts
 * import { EncryptedTokenStore, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.none(),
 *   expiresAt: DateTime.add(now, { hours: 1 }),
 *   refreshExpiresAt: Option.none(),
 *   issuedAt: now,
 *   scopes: []
 * })
 * // 32 bytes in base64; in production, from `OAUTH_STORE_KEYS`.
 * const options: EncryptedTokenStore.Options = {
 *   keys: [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 * }
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* EncryptedTokenStore.encrypt(yield* TokenStore.makeMemory, options)
 *   yield* store.set("user-1", tokens)
 *   return Option.map(yield* store.get("user-1"), (record) => Redacted.value(record.tokens.accessToken))
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), Option.some("at-1"))
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const encrypt = (
  store: TokenStore.Service,
  options: Options
): Effect.Effect<TokenStore.Service, InvalidConfig> =>
  store.backend === undefined
    ? Effect.fail(
      new InvalidConfig({ field: "store", reason: "does not expose raw records (build it with TokenStore.make)" })
    )
    : Effect.map(encryptBackend(store.backend, options), TokenStore.make)

/**
 * Wraps the `TokenStore` of its context and provides the encrypting store in its place:
 * `EncryptedTokenStore.layer({ keys }).pipe(Layer.provide(SqlTokenStore.layer()))`.
 *
 * @example
 * ```ts
 * import { EncryptedTokenStore, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.none(),
 *   expiresAt: DateTime.add(now, { hours: 1 }),
 *   refreshExpiresAt: Option.none(),
 *   issuedAt: now,
 *   scopes: []
 * })
 * // 32 bytes in base64; in production, from `OAUTH_STORE_KEYS`.
 * const options: EncryptedTokenStore.Options = {
 *   keys: [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 * }
 * import { Layer } from "effect"
 *
 * const Store = EncryptedTokenStore.layer(options).pipe(Layer.provide(TokenStore.layerMemory))
 * const program = Effect.gen(function*() {
 *   const store = yield* TokenStore.TokenStore
 *   return yield* store.set("user-1", tokens)
 * })
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, Store)), 1)
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<TokenStore.TokenStore, InvalidConfig, TokenStore.TokenStore> =>
  Layer.effect(TokenStore.TokenStore, Effect.flatMap(TokenStore.TokenStore, (store) => encrypt(store, options)))

/**
 * Parses `kid1:base64key,kid2:base64key` (the first key seals). Problems are reported by position,
 * never with key material.
 *
 * @example
 * ```ts
 * import { EncryptedTokenStore } from "@effect-oauth/core"
 * import { Either } from "effect"
 *
 * const options = EncryptedTokenStore.parseKeys("2026-01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")
 * assert.deepStrictEqual(Either.map(options, ({ keys }) => keys.map((key) => key.id)), Either.right(["2026-01"]))
 * assert.ok(Either.isLeft(EncryptedTokenStore.parseKeys("")))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const parseKeys = (text: string): Either.Either<Options, string> =>
  Either.map(Sealing.parseKeys(text), (keys) => ({ keys }))

/**
 * The keys from the environment variable `OAUTH_STORE_KEYS`: `kid1:base64key,kid2:base64key`.
 *
 * @example
 * ```ts
 * import { EncryptedTokenStore } from "@effect-oauth/core"
 * import { ConfigProvider, Effect } from "effect"
 *
 * // In production the variable comes from the environment; here from a map.
 * const env = ConfigProvider.fromMap(new Map([["OAUTH_STORE_KEYS", "2026-01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]]))
 *
 * const options = Effect.runSync(Effect.withConfigProvider(EncryptedTokenStore.fromEnv, env))
 * assert.strictEqual(options.keys[0].id, "2026-01")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const fromEnv: Config.Config<Options> = Config.redacted("OAUTH_STORE_KEYS").pipe(
  Config.mapOrFail((keys) =>
    Either.mapLeft(parseKeys(Redacted.value(keys)), (reason) => ConfigError.InvalidData([], reason))
  )
)

/**
 * `layer` with the keys from configuration (by default `OAUTH_STORE_KEYS`, see {@link fromEnv}).
 *
 * @example
 * ```ts
 * import { EncryptedTokenStore, TokenStore } from "@effect-oauth/core"
 * import { ConfigProvider, Effect, Layer } from "effect"
 *
 * // In production the variable comes from the environment; here from a map.
 * const env = ConfigProvider.fromMap(new Map([["OAUTH_STORE_KEYS", "2026-01:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="]]))
 *
 * const Store = EncryptedTokenStore.layerConfig().pipe(
 *   Layer.provide(TokenStore.layerMemory),
 *   Layer.provide(Layer.setConfigProvider(env))
 * )
 * const program = Effect.flatMap(TokenStore.TokenStore, (store) => store.get("user-1"))
 * assert.strictEqual((await Effect.runPromise(Effect.provide(program, Store)))._tag, "None")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Options> | Config.Config.Wrap<Options> = fromEnv
): Layer.Layer<TokenStore.TokenStore, ConfigError.ConfigError | InvalidConfig, TokenStore.TokenStore> =>
  Layer.effect(
    TokenStore.TokenStore,
    Effect.flatMap(
      Effect.zip(Config.isConfig(config) ? config : Config.unwrap(config), TokenStore.TokenStore),
      ([options, store]) => encrypt(store, options)
    )
  )
