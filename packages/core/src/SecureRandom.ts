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
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly bytes: (size: number) => Effect.Effect<Uint8Array>
}

/**
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
 * @since 0.1.0
 * @category tags
 */
export class SecureRandom extends Context.Reference<SecureRandom>()("@effect-oauth/core/SecureRandom", {
  defaultValue: (): Service => crypto
}) {}

/**
 * A deterministic generator (xorshift32 from a seed) for reproducible tests. Never use it in production.
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
 * @since 0.1.0
 * @category layers
 */
export const layerDeterministic = (seed: number): Layer.Layer<never> =>
  Layer.sync(SecureRandom, () => deterministic(seed))
