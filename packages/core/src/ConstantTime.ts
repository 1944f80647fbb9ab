/**
 * Comparison of secrets in time that does not depend on where they differ (SPEC S6), for states,
 * digests and cookie values.
 *
 * @since 0.1.0
 */

const encoder = new TextEncoder()

/**
 * Compares two strings in time that depends only on their lengths.
 *
 * @example
 * ```ts
 * import { ConstantTime } from "@effect-oauth/core"
 *
 * assert.strictEqual(ConstantTime.equals("state-1", "state-1"), true)
 * assert.strictEqual(ConstantTime.equals("state-1", "state-2"), false)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const equals = (a: string, b: string): boolean => bytesEqual(encoder.encode(a), encoder.encode(b))

/**
 * Compares two byte arrays in time that depends only on their lengths.
 *
 * @example
 * ```ts
 * import { ConstantTime } from "@effect-oauth/core"
 *
 * assert.strictEqual(ConstantTime.bytesEqual(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3])), true)
 * assert.strictEqual(ConstantTime.bytesEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0])), false)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const bytesEqual = (x: Uint8Array, y: Uint8Array): boolean => {
  const length = Math.max(x.length, y.length)
  let diff = x.length ^ y.length
  for (let i = 0; i < length; i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  }
  return diff === 0
}
