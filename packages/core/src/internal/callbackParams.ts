/**
 * Reading authorization callbacks (RFC 6749 §4.1.2): the parameters of a URL, a query string, a
 * `URLSearchParams` or a record, each at most once, bounded in size (SPEC S8, S28, S36). Failures are
 * the reasons of an `InvalidCallback`.
 */
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"

const names = ["code", "state", "iss", "error", "error_description", "error_uri"] as const

/** The largest callback accepted, so that a hostile callback cannot exhaust memory (SPEC S28). */
const maxCallbackLength = 64 * 1024

export type CallbackParams = Partial<Record<(typeof names)[number], string>>

const invalid = (reason: string): Either.Either<never, string> => Either.left(reason)

const searchOf = (input: unknown): Either.Either<URLSearchParams, string> => {
  if (input instanceof URLSearchParams) return Either.right(input)
  if (input instanceof URL) return Either.right(input.searchParams)
  if (typeof input === "string") {
    if (input.length > maxCallbackLength) return invalid(`it is longer than ${maxCallbackLength} characters`)
    if (URL.canParse(input)) return Either.right(new URL(input).searchParams)
    if (input.startsWith("?") || input.includes("=")) return Either.right(new URLSearchParams(input))
    return invalid("it is neither a URL nor a query string")
  }
  if (!Predicate.isRecord(input) || Array.isArray(input)) {
    return invalid("it is neither a URL, a query string nor a record of parameters")
  }
  const search = new URLSearchParams()
  for (const name of names) {
    if (!Object.hasOwn(input, name)) continue
    const value: unknown = input[name]
    if (value === undefined) continue
    if (typeof value === "string") {
      search.append(name, value)
      continue
    }
    if (!Array.isArray(value)) return invalid(`parameter ${name} is not a string`)
    if (value.length > 1) return invalid(`parameter ${name} is repeated`)
    for (const item of value) {
      if (typeof item !== "string") return invalid(`parameter ${name} is not a string`)
      search.append(name, item)
    }
  }
  return Either.right(search)
}

/** The callback parameters of `input`, or why they cannot be read. */
export const read = (input: unknown): Either.Either<CallbackParams, string> =>
  Either.flatMap(searchOf(input), (search) => {
    const params: CallbackParams = {}
    let length = 0
    for (const name of names) {
      const values = search.getAll(name)
      if (values.length > 1) return invalid(`parameter ${name} is repeated`)
      if (values[0] !== undefined) {
        length += values[0].length
        params[name] = values[0]
      }
    }
    return length > maxCallbackLength
      ? invalid(`it is longer than ${maxCallbackLength} characters`)
      : Either.right(params)
  })

/** Total over any runtime value (SPEC S28, S36): a value that cannot be read, even one that throws, is a reason. */
export const readAny = (input: unknown): Either.Either<CallbackParams, string> => {
  try {
    return read(input)
  } catch {
    return invalid("it cannot be read as callback parameters")
  }
}
