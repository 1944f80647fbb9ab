/**
 * One bounded GET of a JSON document from the provider (SPEC S32): a single deadline covers the
 * connection, the headers and the whole body; the body is read up to a size limit while streaming; the
 * body's content never reaches an error.
 *
 * @internal
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import type * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"

/** @internal */
export const maxBodyBytes = 1024 * 1024

/** @internal */
export interface Failure {
  readonly reason: "Transport" | "Timeout" | "Status" | "Body" | "TooLarge"
  readonly status?: number | undefined
}

/** @internal */
export interface Document {
  readonly status: number
  readonly headers: Readonly<Record<string, string>>
  /** The body as a JSON object, when it is one. */
  readonly json: Option.Option<Readonly<Record<string, unknown>>>
}

const parseObject = (text: string): Option.Option<Readonly<Record<string, unknown>>> => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return Option.none()
  }
  return Predicate.isRecord(value) && !Array.isArray(value) ? Option.some(value) : Option.none()
}

const decode = (bytes: Uint8Array): Option.Option<string> => {
  try {
    return Option.some(new TextDecoder("utf-8", { fatal: true }).decode(bytes))
  } catch {
    return Option.none()
  }
}

/** @internal */
export const getJson = (
  client: HttpClient.HttpClient,
  url: URL,
  options: {
    readonly timeout: Duration.DurationInput
    readonly maxBytes?: number | undefined
    readonly bearer?: Redacted.Redacted<string> | undefined
  }
): Effect.Effect<Document, Failure> => {
  const limit = options.maxBytes ?? maxBodyBytes
  const base = HttpClientRequest.get(url).pipe(HttpClientRequest.acceptJson)
  const request = options.bearer === undefined ? base : HttpClientRequest.bearerToken(base, options.bearer)
  return client.execute(request).pipe(
    Effect.mapError((): Failure => ({ reason: "Transport" })),
    Effect.flatMap((response) => {
      const tooLarge: Failure = { reason: "TooLarge", status: response.status }
      const declared = Number(response.headers["content-length"])
      if (Number.isFinite(declared) && declared > limit) return Effect.fail(tooLarge)
      return response.stream.pipe(
        Stream.mapError((): Failure => ({ reason: "Transport", status: response.status })),
        Stream.runFoldEffect({ size: 0, chunks: [] as Array<Uint8Array> }, (acc, chunk) => {
          const size = acc.size + chunk.length
          if (size > limit) return Effect.fail(tooLarge)
          acc.chunks.push(chunk)
          return Effect.succeed({ size, chunks: acc.chunks })
        }),
        Effect.flatMap(({ chunks, size }) => {
          const bytes = new Uint8Array(size)
          let offset = 0
          for (const chunk of chunks) {
            bytes.set(chunk, offset)
            offset += chunk.length
          }
          return Option.match(decode(bytes), {
            onNone: () => Effect.fail<Failure>({ reason: "Body", status: response.status }),
            onSome: (text) =>
              Effect.succeed<Document>({ status: response.status, headers: response.headers, json: parseObject(text) })
          })
        })
      )
    }),
    // One deadline over connect, headers and the whole body; it aborts the request when it passes.
    Effect.interruptible,
    Effect.timeoutFail({ duration: options.timeout, onTimeout: (): Failure => ({ reason: "Timeout" }) })
  )
}

/** @internal */
export const defaultTimeout = Duration.seconds(30)
