/**
 * Sealed cookies for the sign-in routes: AES-256-GCM (WebCrypto) with a key id, so that keys can
 * rotate (the first key seals, every key opens). A cookie is `v1.<key id>.<iv>.<ciphertext+tag>`
 * in base64url; the additional data binds it to its purpose, so a session cookie never opens as a
 * pending-authorization cookie or the other way round.
 *
 * @internal
 */
import { ConstantTime, OAuthConfig, SecureRandom } from "@effect-oauth/core"
import type * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

/** @internal */
export interface CookieKey {
  readonly id: string
  readonly secret: Redacted.Redacted<string>
}

/** @internal */
export interface DerivedKey {
  readonly id: string
  readonly key: CryptoKey
}

/** @internal */
export type Purpose = "pending" | "session"

const subtle = () => globalThis.crypto.subtle
const utf8 = (text: string) => new TextEncoder().encode(text)
/** A copy on a plain `ArrayBuffer`, as WebCrypto wants. */
const buffer = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => new Uint8Array(bytes)

/** A 32-byte key written in base64 or base64url (with or without padding). */
const rawKey = (secret: string): Option.Option<Uint8Array> => {
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(secret)) return Option.none()
  const decoded = Encoding.decodeBase64Url(secret.replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_"))
  return Either.isRight(decoded) && decoded.right.length === 32 ? Option.some(decoded.right) : Option.none()
}

/** PBKDF2-SHA256 iterations for passphrases (OWASP 2023 recommendation). */
export const pbkdf2Iterations = 600_000

/** The shortest passphrase accepted; a random 32-byte key is better. */
export const minPassphraseLength = 16

const invalid = (reason: string) => new OAuthConfig.InvalidConfig({ field: "cookieKeys", reason })

const deriveOne = (key: CookieKey): Effect.Effect<DerivedKey, OAuthConfig.InvalidConfig> =>
  Effect.gen(function*() {
    const secret = Redacted.value(key.secret)
    const raw = rawKey(secret)
    const usages: Array<KeyUsage> = ["encrypt", "decrypt"]
    if (Option.isSome(raw)) {
      const imported = yield* Effect.promise(() =>
        subtle().importKey("raw", buffer(raw.value), { name: "AES-GCM", length: 256 }, false, usages)
      )
      return { id: key.id, key: imported }
    }
    if (secret.length < minPassphraseLength) {
      return yield* invalid(
        `key ${
          JSON.stringify(key.id)
        } is neither 32 bytes in base64/base64url nor a passphrase of at least ${minPassphraseLength} characters`
      )
    }
    const base = yield* Effect.promise(() => subtle().importKey("raw", utf8(secret), "PBKDF2", false, ["deriveKey"]))
    const derived = yield* Effect.promise(() =>
      subtle().deriveKey(
        {
          name: "PBKDF2",
          hash: "SHA-256",
          salt: utf8(`effect-oauth/NodeSignIn/cookie-key/v1/${key.id}`),
          iterations: pbkdf2Iterations
        },
        base,
        { name: "AES-GCM", length: 256 },
        false,
        usages
      )
    )
    return { id: key.id, key: derived }
  })

/** Validates the key list and imports or derives every key. */
export const deriveKeys = (
  keys: Arr.NonEmptyReadonlyArray<CookieKey>
): Effect.Effect<Arr.NonEmptyReadonlyArray<DerivedKey>, OAuthConfig.InvalidConfig> =>
  Effect.gen(function*() {
    if (keys.length === 0) return yield* invalid("must hold at least one key")
    const ids = new Set<string>()
    for (const key of keys) {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(key.id)) {
        return yield* invalid("has a key id that is not 1 to 64 characters of A-Z, a-z, 0-9, _ or -")
      }
      if (ids.has(key.id)) return yield* invalid(`has the key id ${JSON.stringify(key.id)} twice`)
      ids.add(key.id)
    }
    const [first, ...rest] = keys
    const derivedFirst = yield* deriveOne(first)
    const derivedRest = yield* Effect.forEach(rest, deriveOne)
    return [derivedFirst, ...derivedRest]
  })

const aad = (purpose: Purpose, id: string) => utf8(`effect-oauth/NodeSignIn/v1/${purpose}/${id}`)

/** The largest sealed value accepted by `open`: a browser keeps cookies up to 4096 bytes. */
export const maxSealedLength = 4096

/** Encrypts `plaintext` with the first key. */
export const seal = (
  keys: Arr.NonEmptyReadonlyArray<DerivedKey>,
  purpose: Purpose,
  plaintext: string
): Effect.Effect<string> =>
  Effect.gen(function*() {
    const key = keys[0]
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(12))
    const ciphertext = yield* Effect.promise(() =>
      subtle().encrypt({ name: "AES-GCM", iv, additionalData: aad(purpose, key.id) }, key.key, utf8(plaintext))
    )
    return `v1.${key.id}.${Encoding.encodeBase64Url(iv)}.${Encoding.encodeBase64Url(new Uint8Array(ciphertext))}`
  })

/** Decrypts a sealed value with the key it names; none when it is malformed, foreign or tampered with. */
export const open = (
  keys: Arr.NonEmptyReadonlyArray<DerivedKey>,
  purpose: Purpose,
  sealed: string
): Effect.Effect<Option.Option<string>> =>
  Effect.suspend(() => {
    if (sealed.length > maxSealedLength) return Effect.succeed(Option.none())
    const parts = sealed.split(".")
    if (parts.length !== 4 || parts[0] !== "v1") return Effect.succeed(Option.none())
    const [, id = "", ivText = "", ciphertextText = ""] = parts
    const key = keys.find((candidate) => candidate.id === id)
    const iv = Encoding.decodeBase64Url(ivText)
    const ciphertext = Encoding.decodeBase64Url(ciphertextText)
    if (
      key === undefined || Either.isLeft(iv) || iv.right.length !== 12 || Either.isLeft(ciphertext) ||
      ciphertext.right.length < 16
    ) {
      return Effect.succeed(Option.none())
    }
    return Effect.tryPromise(() =>
      subtle().decrypt(
        { name: "AES-GCM", iv: buffer(iv.right), additionalData: aad(purpose, key.id) },
        key.key,
        buffer(ciphertext.right)
      )
    ).pipe(
      Effect.map((plaintext) => Option.some(new TextDecoder().decode(plaintext))),
      Effect.orElseSucceed(() => Option.none<string>())
    )
  })

/** Compares two strings in time that depends only on their lengths (SPEC S6). */
export const constantTimeEqual: (a: string, b: string) => boolean = ConstantTime.equals

/** A random identifier of 32 bytes from the CSPRNG, in base64url. */
export const randomId: Effect.Effect<string> = Effect.flatMap(
  SecureRandom.SecureRandom,
  (random) => Effect.map(random.bytes(32), Encoding.encodeBase64Url)
)
