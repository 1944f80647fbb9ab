/**
 * Proof Key for Code Exchange (RFC 7636), S256 only: `plain` is never produced (SPEC S3).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import { SecureRandom } from "./SecureRandom.js"

/**
 * The verifier grammar of RFC 7636 §4.1.
 *
 * @example
 * ```ts
 * import { Pkce } from "@effect-oauth/core"
 *
 * assert.ok(Pkce.verifierPattern.test("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
 * assert.ok(!Pkce.verifierPattern.test("too-short"))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const verifierPattern: RegExp = /^[A-Za-z0-9\-._~]{43,128}$/

/**
 * A new verifier: 32 random bytes from {@link SecureRandom}, base64url-encoded (43 characters).
 *
 * @example
 * ```ts
 * import { Pkce } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const verifier = Effect.runSync(Pkce.makeVerifier)
 * assert.strictEqual(Redacted.value(verifier).length, 43)
 * assert.ok(Pkce.verifierPattern.test(Redacted.value(verifier)))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeVerifier: Effect.Effect<Redacted.Redacted<string>> = Effect.flatMap(
  SecureRandom,
  (random) => Effect.map(random.bytes(32), (bytes) => Redacted.make(Encoding.encodeBase64Url(bytes)))
)

/**
 * `BASE64URL(SHA256(ASCII(verifier)))`, the S256 code challenge.
 *
 * @example
 * ```ts
 * import { Pkce } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // The example of RFC 7636, Appendix B.
 * const verifier = Redacted.make("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk")
 * const challenge = await Effect.runPromise(Pkce.challenge(verifier))
 * assert.strictEqual(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const challenge = (verifier: Redacted.Redacted<string>): Effect.Effect<string> =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", new TextEncoder().encode(Redacted.value(verifier))))
    .pipe(Effect.map((digest) => Encoding.encodeBase64Url(new Uint8Array(digest))))
