/**
 * Sealed cookies for the sign-in routes, through core's `Sealing` (AES-256-GCM, key ids for rotation:
 * the first key seals, every key opens). The context binds a cookie to its purpose, so a session cookie
 * never opens as a pending-authorization cookie or the other way round.
 *
 * @internal
 */
import { ConstantTime, Sealing, SecureRandom } from "@effect-oauth/core"
import type { OAuthError } from "@effect-oauth/core"
import type * as Arr from "effect/Array"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import type * as Option from "effect/Option"
import type { CookieKey } from "../NodeSignIn.js"

/** @internal */
export type Purpose = "pending" | "session"

/** PBKDF2-SHA256 iterations for passphrases. */
export const pbkdf2Iterations = Sealing.pbkdf2Iterations

/** The shortest passphrase accepted; a random 32-byte key is better. */
export const minPassphraseLength = Sealing.minPassphraseLength

/** The largest sealed value accepted by `open`: a browser keeps cookies up to 4096 bytes. */
export const maxSealedLength = 4096

/** Validates the key list and imports or derives every key (SPEC S39: a bad key fails here). */
export const deriveKeys = (
  keys: Arr.NonEmptyReadonlyArray<CookieKey>
): Effect.Effect<Sealing.Keyring, OAuthError.InvalidConfig> =>
  Sealing.makeKeyring(keys.map((key) => ({ id: key.id, key: key.secret })), {
    field: "cookieKeys",
    passphraseSalt: "effect-oauth/NodeSignIn/cookie-key/v1"
  })

const context = (purpose: Purpose) => `effect-oauth/NodeSignIn/${purpose}`

/** Encrypts `plaintext` with the first key. */
export const seal = (keyring: Sealing.Keyring, purpose: Purpose, plaintext: string): Effect.Effect<string> =>
  Sealing.seal(keyring, context(purpose), plaintext)

/** Decrypts a sealed value with the key it names; none when it is malformed, foreign or tampered with. */
export const open = (
  keyring: Sealing.Keyring,
  purpose: Purpose,
  sealed: string
): Effect.Effect<Option.Option<string>> =>
  Sealing.open(keyring, context(purpose), sealed, { maxLength: maxSealedLength }).pipe(
    Effect.option
  )

/** Compares two strings in time that depends only on their lengths (SPEC S6). */
export const constantTimeEqual = (a: string, b: string): boolean => ConstantTime.equals(a, b)

/** A random identifier of 32 bytes from the CSPRNG, in base64url. */
export const randomId: Effect.Effect<string> = Effect.flatMap(
  SecureRandom.SecureRandom,
  (random) => Effect.map(random.bytes(32), Encoding.encodeBase64Url)
)
