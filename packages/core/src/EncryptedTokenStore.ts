/**
 * Encryption at rest for any `TokenStore`: the access and refresh tokens of every record are sealed
 * with AES-256-GCM (WebCrypto) before they reach the store, and opened when read. The rest of the
 * record (expiry, scopes) stays readable, so versions, locks and expiry work as before.
 *
 * A sealed value is `v1.<key id>.<iv>.<ciphertext>` (base64url; a fresh random 96-bit IV for every
 * value). Its additional authenticated data binds the store key, the field and the key id, so a
 * sealed token copied to another key, or from the refresh to the access field, does not open.
 *
 * Rotation: the first key seals, every listed key opens, so add a new key in front, let the records
 * be rewritten (every refresh rewrites one), then drop the old key. A value sealed with a key that is
 * not listed, or whose tag does not check out, reads as a `TokenStoreError` with reason `Corrupt`;
 * no error carries a token or key material.
 *
 * ```ts
 * const Store = EncryptedTokenStore.layerConfig().pipe(Layer.provide(SqlTokenStore.layer()))
 * // OAUTH_STORE_KEYS=2025-10:<32 random bytes in base64>,2025-04:<the previous key>
 * ```
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { InvalidConfig } from "./OAuthError.js"
import { TokenStoreError } from "./OAuthError.js"
import * as TokenSet from "./TokenSet.js"
import * as TokenStore from "./TokenStore.js"

/**
 * A key: its id (letters, digits, `-`, `_`; written into every value it seals) and 32 bytes in
 * base64.
 *
 * @since 0.1.0
 * @category models
 */
export interface Key {
  readonly id: string
  readonly key: Redacted.Redacted<string>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The first key seals; every key opens. */
  readonly keys: Arr.NonEmptyReadonlyArray<Key>
}

const version = "v1"
const keyIdPattern = /^[A-Za-z0-9_-]{1,64}$/

type Field = "accessToken" | "refreshToken"

interface ImportedKey {
  readonly id: string
  readonly key: CryptoKey
}

/** A copy on its own `ArrayBuffer`, as WebCrypto's types ask. */
const own = (data: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(data)

const decodeKeyBytes = (text: string): Option.Option<Uint8Array<ArrayBuffer>> => {
  const trimmed = text.trim()
  const decoded = Either.orElse(Encoding.decodeBase64(trimmed), () => Encoding.decodeBase64Url(trimmed))
  return Either.isRight(decoded) && decoded.right.length === 32 ? Option.some(own(decoded.right)) : Option.none()
}

const importKeys = (options: Options): Effect.Effect<Arr.NonEmptyReadonlyArray<ImportedKey>, InvalidConfig> =>
  Effect.gen(function*() {
    const seen = new Set<string>()
    const imported: Array<ImportedKey> = []
    for (const [index, entry] of options.keys.entries()) {
      if (!keyIdPattern.test(entry.id)) {
        return yield* new InvalidConfig({
          field: `keys[${index}].id`,
          reason: "must be 1 to 64 letters, digits, '-' or '_'"
        })
      }
      if (seen.has(entry.id)) {
        return yield* new InvalidConfig({ field: `keys[${index}].id`, reason: `repeats the key id "${entry.id}"` })
      }
      seen.add(entry.id)
      const bytes = decodeKeyBytes(Redacted.value(entry.key))
      if (Option.isNone(bytes)) {
        return yield* new InvalidConfig({ field: `keys[${index}].key`, reason: "must be 32 bytes in base64" })
      }
      const key = yield* Effect.promise(() =>
        globalThis.crypto.subtle.importKey("raw", bytes.value, { name: "AES-GCM" }, false, ["encrypt", "decrypt"])
      )
      imported.push({ id: entry.id, key })
    }
    const [first, ...rest] = imported
    return first === undefined
      ? yield* new InvalidConfig({ field: "keys", reason: "must hold at least one key" })
      : Arr.prepend(rest, first)
  })

const additionalData = (keyId: string, field: Field, storeKey: string): Uint8Array<ArrayBuffer> =>
  new TextEncoder().encode(JSON.stringify(["effect-oauth/sealed", version, keyId, field, storeKey]))

const corrupt = (storeKey: string, field: Field, problem: string) =>
  new TokenStoreError({
    operation: "get",
    reason: "Corrupt",
    key: storeKey,
    detail: `the ${field === "accessToken" ? "access" : "refresh"} token ${problem}`
  })

/**
 * Wraps `store`: tokens are sealed before `set` and opened after `get`. Fails with `InvalidConfig`
 * when a key is not 32 bytes of base64 or a key id is malformed or repeated.
 *
 * @since 0.1.0
 * @category combinators
 */
export const encrypt = (
  store: TokenStore.Service,
  options: Options
): Effect.Effect<TokenStore.Service, InvalidConfig> =>
  Effect.map(importKeys(options), (keys) => {
    const sealing = Arr.headNonEmpty(keys)
    const byId = new Map(keys.map((key) => [key.id, key.key] as const))

    const seal = (storeKey: string, field: Field, token: Redacted.Redacted<string>) =>
      Effect.map(
        Effect.promise(() => {
          const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
          return globalThis.crypto.subtle.encrypt(
            { name: "AES-GCM", iv, additionalData: additionalData(sealing.id, field, storeKey), tagLength: 128 },
            sealing.key,
            new TextEncoder().encode(Redacted.value(token))
          ).then((ciphertext) => [iv, new Uint8Array(ciphertext)] as const)
        }),
        ([iv, ciphertext]) =>
          Redacted.make(
            `${version}.${sealing.id}.${Encoding.encodeBase64Url(iv)}.${Encoding.encodeBase64Url(ciphertext)}`
          )
      )

    const open = (storeKey: string, field: Field, sealed: Redacted.Redacted<string>) =>
      Effect.suspend(() => {
        const parts = Redacted.value(sealed).split(".")
        const [tag, keyId, ivText, ciphertextText] = parts
        if (
          parts.length !== 4 || tag !== version || keyId === undefined || ivText === undefined ||
          ciphertextText === undefined
        ) {
          return Effect.fail(corrupt(storeKey, field, "is not a sealed value"))
        }
        const key = byId.get(keyId)
        if (key === undefined) {
          return Effect.fail(corrupt(storeKey, field, "was sealed with a key id that is not configured"))
        }
        const iv = Encoding.decodeBase64Url(ivText)
        const ciphertext = Encoding.decodeBase64Url(ciphertextText)
        if (Either.isLeft(iv) || Either.isLeft(ciphertext) || iv.right.length !== 12 || ciphertext.right.length < 16) {
          return Effect.fail(corrupt(storeKey, field, "is not a sealed value"))
        }
        return Effect.tryPromise({
          try: () =>
            globalThis.crypto.subtle.decrypt(
              {
                name: "AES-GCM",
                iv: own(iv.right),
                additionalData: additionalData(keyId, field, storeKey),
                tagLength: 128
              },
              key,
              own(ciphertext.right)
            ),
          catch: () => corrupt(storeKey, field, "failed its integrity check (altered, or sealed for another key)")
        }).pipe(
          Effect.flatMap((plain) => {
            const text = new TextDecoder("utf-8", { fatal: false }).decode(plain)
            return text.length === 0
              ? Effect.fail(corrupt(storeKey, field, "is empty"))
              : Effect.succeed(Redacted.make(text))
          })
        )
      })

    const sealTokens = (storeKey: string, tokens: TokenSet.TokenSet) =>
      Effect.map(
        Effect.all([
          seal(storeKey, "accessToken", tokens.accessToken),
          Effect.transposeOption(Option.map(tokens.refreshToken, (token) => seal(storeKey, "refreshToken", token)))
        ]),
        ([accessToken, refreshToken]) => new TokenSet.TokenSet({ ...tokens, accessToken, refreshToken })
      )

    const openTokens = (storeKey: string, tokens: TokenSet.TokenSet) =>
      Effect.map(
        Effect.all([
          open(storeKey, "accessToken", tokens.accessToken),
          Effect.transposeOption(Option.map(tokens.refreshToken, (token) => open(storeKey, "refreshToken", token)))
        ]),
        ([accessToken, refreshToken]) => new TokenSet.TokenSet({ ...tokens, accessToken, refreshToken })
      )

    return TokenStore.TokenStore.of({
      get: (key) =>
        Effect.flatMap(
          store.get(key),
          (found) =>
            Option.isNone(found)
              ? Effect.succeed(found)
              : Effect.map(openTokens(key, found.value.tokens), (tokens) =>
                Option.some({ tokens, version: found.value.version }))
        ),
      set: (key, tokens, writeOptions) =>
        Effect.flatMap(sealTokens(key, tokens), (sealed) =>
          store.set(key, sealed, writeOptions)),
      remove: (key, writeOptions) => store.remove(key, writeOptions),
      lock: (key, lockOptions): Effect.Effect<TokenStore.Lock, TokenStoreError, Scope.Scope> =>
        store.lock(key, lockOptions)
    })
  })

/**
 * Wraps the `TokenStore` of its context and provides the encrypting store in its place:
 * `EncryptedTokenStore.layer({ keys }).pipe(Layer.provide(SqlTokenStore.layer()))`.
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
 * @since 0.1.0
 * @category utils
 */
export const parseKeys = (text: string): Either.Either<Options, string> => {
  const entries = text.split(",").map((entry) => entry.trim()).filter((entry) => entry.length > 0)
  const keys: Array<Key> = []
  for (const [index, entry] of entries.entries()) {
    const colon = entry.indexOf(":")
    if (colon <= 0 || colon === entry.length - 1) {
      return Either.left(`entry ${index + 1} is not "<key id>:<base64 key>"`)
    }
    keys.push({ id: entry.slice(0, colon).trim(), key: Redacted.make(entry.slice(colon + 1).trim()) })
  }
  const [first, ...rest] = keys
  return first === undefined ? Either.left("no key is given") : Either.right({ keys: Arr.prepend(rest, first) })
}

/**
 * The keys from the environment variable `OAUTH_STORE_KEYS`: `kid1:base64key,kid2:base64key`.
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
