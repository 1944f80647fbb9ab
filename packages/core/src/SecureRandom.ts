/**
 * The source of randomness for `state` and PKCE verifiers. The default reads the platform's CSPRNG
 * (`crypto.getRandomValues`); tests may provide a deterministic one with {@link layerDeterministic}.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/**
 * @example
 * ```ts
 * import { SecureRandom } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * // A source that always answers zeros (for illustration only).
 * const zeros: SecureRandom.Service = { bytes: (size) => Effect.succeed(new Uint8Array(size)) }
 * const program = Effect.flatMap(SecureRandom.SecureRandom, (random) => random.bytes(4)).pipe(
 *   Effect.provideService(SecureRandom.SecureRandom, zeros)
 * )
 * assert.deepStrictEqual(Effect.runSync(program), new Uint8Array(4))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly bytes: (size: number) => Effect.Effect<Uint8Array>
}

/**
 * @example
 * ```ts
 * import { SecureRandom } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * const bytes = Effect.runSync(SecureRandom.crypto.bytes(32))
 * assert.strictEqual(bytes.length, 32)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const crypto: Service = {
  bytes: (size) =>
    Effect.sync(() => {
      const out = new Uint8Array(size)
      // getRandomValues fills at most 65536 bytes per call
      for (let offset = 0; offset < size; offset += 65536) {
        globalThis.crypto.getRandomValues(out.subarray(offset, Math.min(size, offset + 65536)))
      }
      return out
    })
}

/**
 * A `Context.Reference`: without a layer, the CSPRNG is used.
 *
 * @example
 * ```ts
 * import { SecureRandom } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * // No layer needed: the reference defaults to the platform CSPRNG.
 * const program = Effect.gen(function*() {
 *   const random = yield* SecureRandom.SecureRandom
 *   return yield* random.bytes(16)
 * })
 * assert.strictEqual(Effect.runSync(program).length, 16)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class SecureRandom extends Context.Reference<SecureRandom>()("@effect-oauth/core/SecureRandom", {
  defaultValue: (): Service => crypto
}) {}

/**
 * A deterministic generator (xorshift32 from a seed) for reproducible tests. Never use it in production.
 *
 * @example
 * ```ts
 * import { SecureRandom } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * const first = Effect.runSync(SecureRandom.deterministic(42).bytes(8))
 * const again = Effect.runSync(SecureRandom.deterministic(42).bytes(8))
 * assert.deepStrictEqual(first, again)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const deterministic = (seed: number): Service => {
  let x = (seed | 0) === 0 ? 0x9e3779b9 : seed | 0
  return {
    bytes: (size) =>
      Effect.sync(() => {
        const out = new Uint8Array(size)
        for (let i = 0; i < size; i++) {
          x ^= x << 13
          x ^= x >>> 17
          x ^= x << 5
          out[i] = x & 0xff
        }
        return out
      })
  }
}

/**
 * @example
 * ```ts
 * import { Pkce, SecureRandom } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * // The same seed gives the same verifier: reproducible tests.
 * const verifier = (seed: number) =>
 *   Pkce.makeVerifier.pipe(Effect.map(Redacted.value), Effect.provide(SecureRandom.layerDeterministic(seed)), Effect.runSync)
 * assert.strictEqual(verifier(7), verifier(7))
 * assert.notStrictEqual(verifier(7), verifier(8))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDeterministic = (seed: number): Layer.Layer<never> =>
  Layer.sync(SecureRandom, () => deterministic(seed))
