/**
 * Reading a provider's JSON text as an object: the one parse of ID Token payloads and of the documents
 * fetched from the provider. Anything that is not a JSON object (invalid JSON, an array, a scalar) is
 * `None`, never an exception.
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"

/** @internal */
export const parseObject = (text: string): Option.Option<Readonly<Record<string, unknown>>> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Option.none()
  }
  return Predicate.isRecord(value) && !Array.isArray(value) ? Option.some(value) : Option.none()
}
