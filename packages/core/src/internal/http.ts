import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import type * as OAuthConfig from "../OAuthConfig.js"
import { ErrorResponse, HttpError } from "../OAuthError.js"

/** The largest response body read from an endpoint (SPEC S15). */
export const maxBodyBytes = 1024 * 1024

type Endpoint = HttpError["endpoint"]

/**
 * `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B), as required for
 * client_secret_basic credentials before Base64 (SPEC S11).
 */
export const formEncode = (value: string): string =>
  encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+")

/** The client authentication of a form request (SPEC S11). */
export const authenticate = (
  config: OAuthConfig.Resolved,
  request: HttpClientRequest.HttpClientRequest,
  params: Record<string, string>
): HttpClientRequest.HttpClientRequest => {
  if (config.clientAuthMethod === "client_secret_post") {
    return HttpClientRequest.bodyUrlParams(request, {
      ...params,
      client_id: config.clientId,
      client_secret: Redacted.value(config.clientSecret)
    })
  }
  const credentials = Encoding.encodeBase64(
    `${formEncode(config.clientId)}:${formEncode(Redacted.value(config.clientSecret))}`
  )
  return request.pipe(
    HttpClientRequest.setHeader("authorization", `Basic ${credentials}`),
    HttpClientRequest.bodyUrlParams(params)
  )
}

/** A form POST to an endpoint: secrets only in the body or the Authorization header (SPEC S10). */
export const formPost = (config: OAuthConfig.Resolved, url: URL, params: Record<string, string>) =>
  authenticate(config, HttpClientRequest.post(url).pipe(HttpClientRequest.acceptJson), params)

/** The outcome of sending a request once, never retried here (SPEC S12, S22). */
export type SendFailure = HttpError & { readonly reason: "Transport" | "Timeout" }

export const sendOnce = (
  client: HttpClient.HttpClient,
  config: OAuthConfig.Resolved,
  endpoint: Endpoint,
  request: HttpClientRequest.HttpClientRequest
): Effect.Effect<HttpClientResponse.HttpClientResponse, SendFailure> =>
  client.execute(request).pipe(
    // The timeout must be able to abort the request even inside an uninterruptible refresh: otherwise
    // it would wait for a late answer and then throw it away.
    Effect.interruptible,
    Effect.timeoutFail({
      duration: config.requestTimeout,
      onTimeout: () => new HttpError({ endpoint, reason: "Timeout" }) as SendFailure
    }),
    Effect.catchTags({
      RequestError: (error: HttpClientError.RequestError) =>
        Effect.fail(new HttpError({ endpoint, reason: "Transport", detail: error.reason }) as SendFailure),
      ResponseError: (error: HttpClientError.ResponseError) =>
        Effect.fail(new HttpError({ endpoint, reason: "Transport", detail: error.reason }) as SendFailure)
    })
  )

/** Reads the body, at most `maxBodyBytes`, streaming so that memory stays bounded (SPEC S15, S28). */
export const readBody = (
  response: HttpClientResponse.HttpClientResponse,
  endpoint: Endpoint
): Effect.Effect<string, HttpError> => {
  const tooLarge = () =>
    new HttpError({
      endpoint,
      reason: "TooLarge",
      status: response.status,
      detail: `more than ${maxBodyBytes} bytes`
    })
  const declared = Number(response.headers["content-length"])
  if (Number.isFinite(declared) && declared > maxBodyBytes) return Effect.fail(tooLarge())
  return response.stream.pipe(
    Stream.runFoldEffect({ size: 0, chunks: [] as Array<Uint8Array> }, (acc, chunk) => {
      const size = acc.size + chunk.length
      if (size > maxBodyBytes) return Effect.fail(tooLarge())
      acc.chunks.push(chunk)
      return Effect.succeed({ size, chunks: acc.chunks })
    }),
    Effect.catchTag(
      "ResponseError",
      () => Effect.fail(new HttpError({ endpoint, reason: "Transport", status: response.status, detail: "body" }))
    ),
    Effect.flatMap(({ chunks, size }) => {
      const bytes = new Uint8Array(size)
      let offset = 0
      for (const chunk of chunks) {
        bytes.set(chunk, offset)
        offset += chunk.length
      }
      return Effect.try({
        try: () => new TextDecoder("utf-8", { fatal: true }).decode(bytes),
        catch: () => new HttpError({ endpoint, reason: "Body", status: response.status, detail: "not UTF-8" })
      })
    })
  )
}

const parseJsonObject = (text: string): Record<string, unknown> | undefined => {
  if (text.trim().length === 0) return undefined
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  return Predicate.isRecord(value) && !Array.isArray(value) ? value : undefined
}

const describeBody = (response: HttpClientResponse.HttpClientResponse, text: string): string => {
  if (text.trim().length === 0) return "empty body"
  const type = response.headers["content-type"]
  return type === undefined ? "no content type" : `content type ${type.split(";")[0]}`
}

/** A server-chosen text, bounded so that a hostile server cannot blow up an error message. */
export const boundedText = (value: unknown): string | undefined =>
  typeof value === "string" ? (value.length > 512 ? `${value.slice(0, 512)}…` : value) : undefined

/**
 * Reads an endpoint's answer (SPEC S13, S16): HTTP 200 with a JSON object is success; a 4xx with an
 * RFC 6749 §5.2 error body is an `ErrorResponse`; anything else — a 5xx, HTML, an empty or non-JSON
 * body — is an `HttpError`. The body's content never reaches an error message.
 */
export const readJsonObject = (
  response: HttpClientResponse.HttpClientResponse,
  endpoint: Endpoint
): Effect.Effect<Record<string, unknown>, HttpError | ErrorResponse> =>
  Effect.flatMap(
    readBody(response, endpoint),
    (text): Effect.Effect<Record<string, unknown>, HttpError | ErrorResponse> => {
      const json = parseJsonObject(text)
      if (response.status === 200) {
        return json === undefined
          ? Effect.fail(new HttpError({ endpoint, reason: "Body", status: 200, detail: describeBody(response, text) }))
          : Effect.succeed(json)
      }
      if (response.status >= 400 && response.status < 500 && json !== undefined && typeof json.error === "string") {
        return Effect.fail(
          new ErrorResponse({
            error: boundedText(json.error) ?? "",
            status: response.status,
            ...optionalFields({ description: boundedText(json.error_description), uri: boundedText(json.error_uri) })
          })
        )
      }
      return Effect.fail(new HttpError({ endpoint, reason: "Status", status: response.status }))
    }
  )

/** Keeps only the defined fields, for `exactOptionalPropertyTypes`. */
export const optionalFields = <A extends Record<string, unknown>>(
  fields: A
): { [K in keyof A]?: Exclude<A[K], undefined> } =>
  Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined)) as {
    [K in keyof A]?: Exclude<A[K], undefined>
  }

/** Compares two strings in time that depends only on their lengths (SPEC S6). */
export const constantTimeEqual = (a: string, b: string): boolean => {
  const x = new TextEncoder().encode(a)
  const y = new TextEncoder().encode(b)
  const length = Math.max(x.length, y.length)
  let diff = x.length ^ y.length
  for (let i = 0; i < length; i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  }
  return diff === 0
}
