/**
 * Pure helpers of the fake authorization server: wire parsing, PKCE and token generation.
 *
 * @internal
 */
import type * as HttpBody from "@effect/platform/HttpBody"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import { createHash, randomBytes } from "node:crypto"

/** @internal */
export interface ParsedForm {
  readonly record: Readonly<Record<string, string>>
  readonly repeated: ReadonlyArray<string>
}

/** @internal */
export const emptyForm: ParsedForm = { record: {}, repeated: [] }

/** @internal */
export const parseParams = (params: URLSearchParams): ParsedForm => {
  // a null-prototype record: `__proto__`, `constructor`… are plain keys here
  const record: Record<string, string> = Object.create(null)
  const repeated: Array<string> = []
  for (const [key, value] of params) {
    if (Object.prototype.hasOwnProperty.call(record, key) && !repeated.includes(key)) {
      repeated.push(key)
    }
    record[key] = value
  }
  return { record, repeated }
}

/** @internal */
export const isFormContentType = (contentType: string | undefined): boolean =>
  contentType !== undefined && /^application\/x-www-form-urlencoded\s*(;.*)?$/i.test(contentType.trim())

const decoder = new TextDecoder()

/**
 * Reads a client request body as text. Form bodies built with `HttpClientRequest.bodyUrlParams` are
 * `Uint8Array` bodies; `Raw` strings / bytes / `URLSearchParams` and streams are read too. A multipart
 * `FormData` body is reported as `undefined` (it is not a form-urlencoded body).
 *
 * @internal
 */
export const readBodyText = (body: HttpBody.HttpBody): Effect.Effect<string | undefined, unknown> => {
  switch (body._tag) {
    case "Empty":
      return Effect.succeed("")
    case "Uint8Array":
      return Effect.succeed(decoder.decode(body.body))
    case "Raw": {
      const raw = body.body
      if (typeof raw === "string") return Effect.succeed(raw)
      if (raw instanceof Uint8Array) return Effect.succeed(decoder.decode(raw))
      if (raw instanceof URLSearchParams) return Effect.succeed(raw.toString())
      return Effect.succeed(undefined)
    }
    case "FormData":
      return Effect.succeed(undefined)
    case "Stream":
      return Effect.map(Stream.runCollect(body.stream), (chunks) => {
        const parts = Chunk.toReadonlyArray(chunks)
        const total = parts.reduce((n, part) => n + part.length, 0)
        const out = new Uint8Array(total)
        let offset = 0
        for (const part of parts) {
          out.set(part, offset)
          offset += part.length
        }
        return decoder.decode(out)
      })
  }
}

/** Characters that `application/x-www-form-urlencoded` serialization (or `encodeURIComponent`) can emit. */
const formEncodedPart = /^[A-Za-z0-9*\-._~!'()%+]*$/

const decodeFormComponent = (part: string): Option.Option<string> =>
  formEncodedPart.test(part)
    ? Either.getRight(Either.try(() => decodeURIComponent(part.replace(/\+/g, " "))))
    : Option.none()

/**
 * Decodes `Authorization: Basic …` per RFC 6749 §2.3.1: base64, split at the first `:`, then
 * form-urlencoding decoding of both halves. Anything not produced by that encoding (raw non-ASCII,
 * raw spaces, malformed percent escapes) is rejected.
 *
 * @internal
 */
export const decodeBasicCredentials = (
  header: string
): Option.Option<{ readonly clientId: string; readonly clientSecret: string }> => {
  const match = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header)
  const encoded = match?.[1]
  if (encoded === undefined) return Option.none()
  return Either.getRight(Encoding.decodeBase64String(encoded)).pipe(
    Option.flatMap((decoded) => {
      const index = decoded.indexOf(":")
      if (index < 0) return Option.none()
      return Option.all({
        clientId: decodeFormComponent(decoded.slice(0, index)),
        clientSecret: decodeFormComponent(decoded.slice(index + 1))
      })
    })
  )
}

/**
 * Encodes `Authorization: Basic …` per RFC 6749 §2.3.1: both halves form-urlencoded, then base64.
 *
 * @internal
 */
export const encodeBasicCredentials = (clientId: string, clientSecret: string): string => {
  const encode = (value: string) => new URLSearchParams([["", value]]).toString().slice(1)
  return `Basic ${btoa(`${encode(clientId)}:${encode(clientSecret)}`)}`
}

/** @internal */
export const codeVerifierPattern = /^[A-Za-z0-9\-._~]{43,128}$/

/** @internal */
export const s256ChallengePattern = /^[A-Za-z0-9_-]{43}$/

/** BASE64URL(SHA256(ASCII(verifier))) without padding (RFC 7636 §4.2). @internal */
export const s256 = (verifier: string): string =>
  Encoding.encodeBase64Url(createHash("sha256").update(verifier, "ascii").digest())

/**
 * A random token of exactly `size` characters (base64url alphabet), starting with `prefix` when it fits.
 *
 * @internal
 */
export const randomToken = (prefix: string, size: number | undefined): Effect.Effect<string> =>
  Effect.sync(() => {
    if (size === undefined) return prefix + Encoding.encodeBase64Url(randomBytes(32))
    const length = Math.max(1, Math.floor(size))
    const head = prefix.length < length ? prefix : ""
    const bodyLength = length - head.length
    const body = Encoding.encodeBase64Url(randomBytes(Math.ceil((bodyLength * 3) / 4) + 3)).slice(0, bodyLength)
    return head + body
  })

/** @internal */
export const parseScope = (scope: string): Option.Option<ReadonlyArray<string>> => {
  if (!/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(scope)) return Option.none()
  return Option.some(scope.split(" "))
}

/** @internal */
export const parseUrl = (input: string | URL): Option.Option<URL> =>
  Either.getRight(Either.try(() => new URL(input.toString())))

/** @internal */
export const parseJson = (text: string): Option.Option<unknown> =>
  Either.getRight(Either.try((): unknown => JSON.parse(text)))
