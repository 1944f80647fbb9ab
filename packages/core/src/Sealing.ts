/**
 * Authenticated encryption of short texts (token records at rest, sign-in cookies): AES-256-GCM
 * (WebCrypto) with key ids, so that keys can rotate.
 *
 * A sealed value is `v1.<key id>.<iv>.<ciphertext>` (base64url; a fresh random 96-bit IV for every
 * value, the 128-bit tag at the end of the ciphertext). Its additional authenticated data binds the
 * format version, the key id and a caller-chosen `context` (a store key, a cookie's purpose), so a
 * value sealed for one context never opens in another.
 *
 * Rotation: the first key seals, every listed key opens. Add a new key in front, let values be
 * rewritten, then drop the old key.
 *
 * ```ts
 * const keyring = yield* Sealing.makeKeyring([{ id: "2025-10", key: Redacted.make(base64Key) }])
 * const sealed = yield* Sealing.seal(keyring, "user-1", text)
 * const opened = yield* Sealing.open(keyring, "user-1", sealed)
 * ```
 *
 * @since 0.1.0
 */
import * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { InvalidConfig } from "./OAuthError.js"

/**
 * A key: its id (1 to 64 letters, digits, `-` or `_`; written into every value it seals) and its
 * secret: 32 bytes in base64 or base64url, or — where {@link KeyringOptions.passphraseSalt} allows
 * it — a passphrase of at least 16 characters.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const key: Sealing.Key = keys[0]!
 * assert.strictEqual(String(key.key), "<redacted>")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Key {
  readonly id: string
  readonly key: Redacted.Redacted<string>
}

/**
 * Imported keys, ready to seal (the first) and open (any).
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const keyring: Sealing.Keyring = await Effect.runPromise(Sealing.makeKeyring(keys))
 * assert.strictEqual(keyring.sealing.id, "2026-01")
 * assert.ok(keyring.byId.has("2026-01"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Keyring {
  readonly sealing: ImportedKey
  readonly byId: ReadonlyMap<string, CryptoKey>
}

/**
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const keyring = await Effect.runPromise(Sealing.makeKeyring(keys))
 * const sealing: Sealing.ImportedKey = keyring.sealing
 * assert.strictEqual(sealing.key.algorithm.name, "AES-GCM")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ImportedKey {
  readonly id: string
  readonly key: CryptoKey
}

/**
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const options: Sealing.KeyringOptions = { field: "COOKIE_KEYS" }
 * const error = await Effect.runPromise(
 *   Effect.flip(Sealing.makeKeyring([{ id: "k1", key: Redacted.make("too short") }], options))
 * )
 * // The error names the field by position, never the key material.
 * assert.ok(error.field.startsWith("COOKIE_KEYS"))
 * assert.ok(!error.message.includes("too short"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface KeyringOptions {
  /** The configuration field named by `InvalidConfig` errors; default `keys`. */
  readonly field?: string | undefined
  /**
   * Accept passphrases (at least 16 characters), stretched with PBKDF2-SHA256 (600 000 iterations)
   * and the salt `<passphraseSalt>/<key id>`. Default: only 32-byte keys are accepted.
   */
  readonly passphraseSalt?: string | undefined
}

/**
 * Why a value did not open. Carries no part of the value or of any key.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const keyring = await Effect.runPromise(Sealing.makeKeyring(keys))
 * const error = await Effect.runPromise(Effect.flip(Sealing.open(keyring, "user-1", "not a sealed value")))
 * assert.strictEqual(error.reason, "Malformed")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class OpenError extends Schema.TaggedError<OpenError>("@effect-oauth/core/Sealing/OpenError")("OpenError", {
  reason: Schema.Literal("Malformed", "UnknownKey", "Integrity", "TooLarge")
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "Malformed":
        return "The value is not a sealed value."
      case "UnknownKey":
        return "The value was sealed with a key id that is not configured."
      case "Integrity":
        return "The value failed its integrity check (altered, or sealed for another key or context)."
      case "TooLarge":
        return "The sealed value is larger than allowed."
    }
  }
}

/**
 * The format version written in front of every sealed value.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const keyring = await Effect.runPromise(Sealing.makeKeyring(keys))
 * const sealed = await Effect.runPromise(Sealing.seal(keyring, "user-1", "hello"))
 * assert.ok(sealed.startsWith(`${Sealing.formatVersion}.2026-01.`))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const formatVersion = "v1"

/**
 * PBKDF2-SHA256 iterations for passphrases (OWASP 2023 recommendation).
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 *
 * assert.strictEqual(Sealing.pbkdf2Iterations, 600_000)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const pbkdf2Iterations = 600_000

/**
 * The shortest passphrase accepted; a random 32-byte key is better.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // Passphrases are accepted only with a salt, and only from this length on.
 * const short = Redacted.make("x".repeat(Sealing.minPassphraseLength - 1))
 * const result = await Effect.runPromise(
 *   Effect.either(Sealing.makeKeyring([{ id: "k1", key: short }], { passphraseSalt: "my-app" }))
 * )
 * assert.strictEqual(result._tag, "Left")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const minPassphraseLength = 16

const keyIdPattern = /^[A-Za-z0-9_-]{1,64}$/

const utf8 = (text: string): Uint8Array<ArrayBuffer> => new TextEncoder().encode(text)

/** A copy on its own `ArrayBuffer`, as WebCrypto's types ask. */
const own = (data: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(data)

/**
 * 32 bytes in base64 or base64url, with or without padding; none otherwise.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Option } from "effect"
 *
 * const bytes = Sealing.decodeKeyBytes("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8")
 * assert.deepStrictEqual(Option.map(bytes, (b) => b.length), Option.some(32))
 * assert.ok(Option.isNone(Sealing.decodeKeyBytes("c2hvcnQ=")))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const decodeKeyBytes = (text: string): Option.Option<Uint8Array<ArrayBuffer>> => {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) return Option.none()
  const decoded = Encoding.decodeBase64Url(trimmed.replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"))
  return Either.isRight(decoded) && decoded.right.length === 32 ? Option.some(own(decoded.right)) : Option.none()
}

const importOne = (
  entry: Key,
  index: number,
  options: KeyringOptions
): Effect.Effect<ImportedKey, InvalidConfig> =>
  Effect.gen(function*() {
    const field = `${options.field ?? "keys"}[${index}].key`
    const secret = Redacted.value(entry.key)
    const usages: Array<KeyUsage> = ["encrypt", "decrypt"]
    const bytes = decodeKeyBytes(secret)
    if (Option.isSome(bytes)) {
      const key = yield* Effect.promise(() =>
        globalThis.crypto.subtle.importKey("raw", bytes.value, { name: "AES-GCM", length: 256 }, false, usages)
      )
      return { id: entry.id, key }
    }
    if (options.passphraseSalt === undefined) {
      return yield* new InvalidConfig({ field, reason: "must be 32 bytes in base64" })
    }
    if (secret.length < minPassphraseLength) {
      return yield* new InvalidConfig({
        field,
        reason: `must be 32 bytes in base64/base64url or a passphrase of at least ${minPassphraseLength} characters`
      })
    }
    const salt = utf8(`${options.passphraseSalt}/${entry.id}`)
    const base = yield* Effect.promise(() =>
      globalThis.crypto.subtle.importKey("raw", utf8(secret), "PBKDF2", false, ["deriveKey"])
    )
    const key = yield* Effect.promise(() =>
      globalThis.crypto.subtle.deriveKey(
        { name: "PBKDF2", hash: "SHA-256", salt, iterations: pbkdf2Iterations },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        usages
      )
    )
    return { id: entry.id, key }
  })

/**
 * Checks and imports `keys`: a malformed or repeated key id, or a key that is not 32 bytes of base64
 * (nor an allowed passphrase), is an `InvalidConfig` naming the field by position, never the key
 * material.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const program = Effect.gen(function*() {
 *   const keyring = yield* Sealing.makeKeyring(keys)
 *   return keyring.sealing.id
 * })
 * assert.strictEqual(await Effect.runPromise(program), "2026-01")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeKeyring = (
  keys: ReadonlyArray<Key>,
  options: KeyringOptions = {}
): Effect.Effect<Keyring, InvalidConfig> =>
  Effect.gen(function*() {
    const field = options.field ?? "keys"
    const seen = new Set<string>()
    const imported: Array<ImportedKey> = []
    for (const [index, entry] of keys.entries()) {
      if (!keyIdPattern.test(entry.id)) {
        return yield* new InvalidConfig({
          field: `${field}[${index}].id`,
          reason: "must be 1 to 64 letters, digits, '-' or '_'"
        })
      }
      if (seen.has(entry.id)) {
        return yield* new InvalidConfig({ field: `${field}[${index}].id`, reason: `repeats the key id "${entry.id}"` })
      }
      seen.add(entry.id)
      imported.push(yield* importOne(entry, index, options))
    }
    const first = imported[0]
    if (first === undefined) return yield* new InvalidConfig({ field, reason: "must hold at least one key" })
    return { sealing: first, byId: new Map(imported.map((key) => [key.id, key.key] as const)) }
  })

const additionalData = (keyId: string, context: string): Uint8Array<ArrayBuffer> =>
  utf8(JSON.stringify(["effect-oauth/sealed", formatVersion, keyId, context]))

/**
 * Seals `plaintext` with the keyring's first key, bound to `context`.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const program = Effect.gen(function*() {
 *   const keyring = yield* Sealing.makeKeyring(keys)
 *   const sealed = yield* Sealing.seal(keyring, "user-1", "hello")
 *   // A fresh IV every time: the same text never seals to the same value.
 *   const again = yield* Sealing.seal(keyring, "user-1", "hello")
 *   return [sealed !== again, yield* Sealing.open(keyring, "user-1", sealed)]
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), [true, "hello"])
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const seal = (keyring: Keyring, context: string, plaintext: string): Effect.Effect<string> =>
  Effect.promise(() => {
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
    return globalThis.crypto.subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: additionalData(keyring.sealing.id, context), tagLength: 128 },
      keyring.sealing.key,
      utf8(plaintext)
    ).then((ciphertext) =>
      `${formatVersion}.${keyring.sealing.id}.${Encoding.encodeBase64Url(iv)}.${
        Encoding.encodeBase64Url(new Uint8Array(ciphertext))
      }`
    )
  })

/**
 * Opens a value sealed for `context` with any key of the keyring. `maxLength` bounds the work done
 * for hostile input (default: no bound).
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // 32 bytes in base64; in production, read it with `Config.redacted`.
 * const keys = [{ id: "2026-01", key: Redacted.make("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=") }]
 *
 * const program = Effect.gen(function*() {
 *   const keyring = yield* Sealing.makeKeyring(keys)
 *   const sealed = yield* Sealing.seal(keyring, "user-1", "hello")
 *   const opened = yield* Sealing.open(keyring, "user-1", sealed, { maxLength: 4096 })
 *   // Sealed for another context: the integrity check fails.
 *   const other = yield* Effect.flip(Sealing.open(keyring, "user-2", sealed))
 *   return [opened, other.reason]
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), ["hello", "Integrity"])
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const open = (
  keyring: Keyring,
  context: string,
  sealed: string,
  options?: { readonly maxLength?: number | undefined }
): Effect.Effect<string, OpenError> =>
  Effect.suspend(() => {
    if (options?.maxLength !== undefined && sealed.length > options.maxLength) {
      return new OpenError({ reason: "TooLarge" })
    }
    const parts = sealed.split(".", 5)
    const [tag, keyId, ivText, ciphertextText] = parts
    if (
      parts.length !== 4 || tag !== formatVersion || keyId === undefined || ivText === undefined ||
      ciphertextText === undefined
    ) {
      return new OpenError({ reason: "Malformed" })
    }
    const key = keyring.byId.get(keyId)
    if (key === undefined) return new OpenError({ reason: "UnknownKey" })
    const iv = Encoding.decodeBase64Url(ivText)
    const ciphertext = Encoding.decodeBase64Url(ciphertextText)
    if (Either.isLeft(iv) || Either.isLeft(ciphertext) || iv.right.length !== 12 || ciphertext.right.length < 16) {
      return new OpenError({ reason: "Malformed" })
    }
    return Effect.tryPromise({
      try: () =>
        globalThis.crypto.subtle.decrypt(
          { name: "AES-GCM", iv: own(iv.right), additionalData: additionalData(keyId, context), tagLength: 128 },
          key,
          own(ciphertext.right)
        ),
      catch: () => new OpenError({ reason: "Integrity" })
    }).pipe(
      Effect.flatMap((plain) =>
        Effect.try({
          try: () => new TextDecoder("utf-8", { fatal: true }).decode(plain),
          catch: () => new OpenError({ reason: "Malformed" })
        })
      )
    )
  })

/**
 * Parses `kid1:base64key,kid2:base64key` (the first key seals). Problems are reported by position,
 * never with key material.
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 * import { Either } from "effect"
 *
 * const keys = Sealing.parseKeys("new:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=, old:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=")
 * assert.deepStrictEqual(Either.map(keys, (list) => list.map((key) => key.id)), Either.right(["new", "old"]))
 * assert.deepStrictEqual(Sealing.parseKeys("no-colon"), Either.left("entry 1 is not \"<key id>:<base64 key>\""))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const parseKeys = (text: string): Either.Either<Arr.NonEmptyReadonlyArray<Key>, string> => {
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
  return first === undefined ? Either.left("no key is given") : Either.right(Arr.prepend(rest, first))
}

/**
 * Compares two strings in time that depends only on their lengths (SPEC S6).
 *
 * @example
 * ```ts
 * import { Sealing } from "@effect-oauth/core"
 *
 * assert.strictEqual(Sealing.constantTimeEqual("digest-a", "digest-a"), true)
 * assert.strictEqual(Sealing.constantTimeEqual("digest-a", "digest-b"), false)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const constantTimeEqual = (a: string, b: string): boolean => {
  const x = utf8(a)
  const y = utf8(b)
  const length = Math.max(x.length, y.length)
  let diff = x.length ^ y.length
  for (let i = 0; i < length; i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  }
  return diff === 0
}
