/**
 * One exchange with an authorization server (token, revocation, discovery, userinfo, JWKS): the request,
 * the response headers and the whole body, under one deadline (SPEC S32), with a bounded body (S15), and
 * the status matching of RFC 6749 §5.2 (S13, S16) that never lets server text through unscrubbed (S34).
 *
 * Build it once, where the `HttpClient` is taken:
 *
 * ```ts
 * const exchange = ServerExchange.make(client, { timeout: "30 seconds" })
 * const response = yield* exchange.execute(HttpClientRequest.get(jwksUri), "jwks")
 * ```
 *
 * @since 0.1.0
 */
import type * as Headers from "@effect/platform/Headers"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Predicate from "effect/Predicate"
import * as Stream from "effect/Stream"
import * as Text from "./internal/text.js"
import { ErrorResponse, HttpError } from "./OAuthError.js"

/**
 * The largest response body read by default: 1 MiB (SPEC S15).
 *
 * @example
 * ```ts
 * import { ServerExchange } from "@effect-oauth/core"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * assert.strictEqual(ServerExchange.defaultMaxBodyBytes, 1024 * 1024)
 * const client = HttpClient.make(() => Effect.die("no request expected"))
 * // A smaller bound for an endpoint that answers small documents.
 * const exchange = ServerExchange.make(client, { timeout: "5 seconds", maxBodyBytes: ServerExchange.defaultMaxBodyBytes / 16 })
 * void exchange
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const defaultMaxBodyBytes = 1024 * 1024

/**
 * Which endpoint an exchange is with; it names the endpoint in `HttpError`.
 *
 * @example
 * ```ts
 * import { ServerExchange } from "@effect-oauth/core"
 *
 * const endpoint: ServerExchange.Endpoint = "jwks"
 * assert.strictEqual(endpoint, "jwks")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = HttpError["endpoint"]

/**
 * A response read in full within the deadline.
 *
 * @example
 * ```ts
 * import { ServerExchange } from "@effect-oauth/core"
 * import { Headers } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const response: ServerExchange.Response = {
 *   status: 400,
 *   headers: Headers.fromInput({ "content-type": "application/json" }),
 *   body: JSON.stringify({ error: "invalid_grant", error_description: "the code has expired" })
 * }
 *
 * const error = Effect.runSync(Effect.flip(ServerExchange.jsonObject(response, "token")))
 * assert.strictEqual(error._tag, "ErrorResponse")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Response {
  readonly status: number
  readonly headers: Headers.Headers
  /** The whole body, decoded as UTF-8. */
  readonly body: string
}

/**
 * @example
 * ```ts
 * import { ServerExchange } from "@effect-oauth/core"
 *
 * const options: ServerExchange.Options = { timeout: "10 seconds", maxBodyBytes: 64 * 1024 }
 * assert.strictEqual(options.maxBodyBytes, 65536)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The one deadline of an exchange: connect, headers and the whole body (SPEC S32). */
  readonly timeout: Duration.DurationInput
  /** Default 1 MiB. */
  readonly maxBodyBytes?: number | undefined
}

/**
 * An `HttpClient` decorated for exchanges with an authorization server.
 *
 * @example
 * ```ts
 * import { ServerExchange } from "@effect-oauth/core"
 * import { HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A fake server that answers every request with a JSON object.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(JSON.stringify({ keys: [] }), { status: 200, headers: { "content-type": "application/json" } })
 *     )
 *   )
 * )
 *
 * const exchange: ServerExchange.ServerExchange = ServerExchange.make(server, { timeout: "5 seconds" })
 * const response = await Effect.runPromise(exchange.execute(HttpClientRequest.get("https://auth.example.com/jwks"), "jwks"))
 * assert.strictEqual(response.status, 200)
 * assert.strictEqual(response.body, "{\"keys\":[]}")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ServerExchange {
  /**
   * Sends `request` once (never retried here, SPEC S12, S22) and reads the whole response before the
   * deadline. Fails with `HttpError` reason `Timeout` at the deadline, wherever the exchange was: a
   * server that sends headers and then stalls its body times out like one that never answers, and the
   * request is aborted in the background so that nothing waits on it. A deadline that fires late, after
   * the process was paused, first gives an answer that arrived meanwhile up to a second to be read (S48).
   */
  readonly execute: (
    request: HttpClientRequest.HttpClientRequest,
    endpoint: Endpoint
  ) => Effect.Effect<Response, HttpError>
}

const readBody = (
  response: HttpClientResponse.HttpClientResponse,
  endpoint: Endpoint,
  maxBodyBytes: number
): Effect.Effect<string, HttpError> => {
  const tooLarge = () =>
    new HttpError({ endpoint, reason: "TooLarge", status: response.status, detail: `more than ${maxBodyBytes} bytes` })
  const declared = Number(response.headers["content-length"])
  if (Number.isFinite(declared) && declared > maxBodyBytes) return Effect.fail(tooLarge())
  const initial: { readonly size: number; readonly chunks: Array<Uint8Array> } = { size: 0, chunks: [] }
  return response.stream.pipe(
    Stream.runFoldEffect(initial, (acc, chunk) => {
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

/** A timer this late fired after a pause of the process, not by the ordinary jitter of a busy event loop. */
const pausedAfterMillis = 50
/** The most a pause adds to a deadline: time to read what arrived while the process was not running. */
const maxGraceMillis = 1_000

/**
 * Ends `millis` after it starts, in the process's running time (SPEC S48). A timer that fires late means
 * the process was paused (SIGSTOP, a suspended machine) or its event loop blocked, and whatever the server
 * sent meanwhile is still unread: Node runs due timers before it reads sockets. So a late deadline waits
 * once more, as long as it was late and at most `maxGraceMillis`, for that answer to be read; a deadline
 * that fires on time ends the exchange at once.
 */
const deadline = (millis: number): Effect.Effect<void> =>
  Effect.flatMap(
    Clock.currentTimeMillis,
    (start) =>
      Effect.flatMap(Effect.sleep(Duration.millis(millis)), () =>
        Effect.flatMap(Clock.currentTimeMillis, (end) => {
          const late = end - start - millis
          return late >= pausedAfterMillis ? deadline(Math.min(late, maxGraceMillis)) : Effect.void
        }))
  )

/**
 * Decorates `client` once: every `execute` runs under one deadline covering connect, headers and the
 * whole body (SPEC S32), reads at most `maxBodyBytes` (S15), and turns transport failures into
 * `HttpError`. The deadline holds inside uninterruptible regions too (a refresh in flight, S23), and the
 * caller is answered at the deadline even while the aborted request is still being torn down, so a layer
 * shutting down never waits on an exchange beyond it. The deadline counts the process's running time: after
 * a pause (SIGSTOP, a blocked event loop) that outlasted it, an answer that arrived meanwhile is read, not
 * discarded, within up to one more second (S48). Interrupting an interruptible caller stops the wait
 * at once (the request is aborted in the background); an uninterruptible caller, such as a refresh that
 * must keep what it gets, receives the answer or the timeout. Spans: one `ServerExchange.execute` span
 * with the endpoint, method, URL and status; the platform's client span, which would record every
 * server-chosen response header, is not created (SPEC S34).
 *
 * @example
 * ```ts
 * import { ServerExchange } from "@effect-oauth/core"
 * import { HttpClient, HttpClientRequest, HttpClientResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A fake server that answers every request with a JSON object.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(JSON.stringify({ keys: [] }), { status: 200, headers: { "content-type": "application/json" } })
 *     )
 *   )
 * )
 *
 * const program = Effect.gen(function*() {
 *   const exchange = ServerExchange.make(server, { timeout: "5 seconds" })
 *   const response = yield* exchange.execute(HttpClientRequest.get("https://auth.example.com/jwks"), "jwks")
 *   return yield* ServerExchange.jsonObject(response, "jwks")
 * })
 * assert.deepStrictEqual(await Effect.runPromise(program), { keys: [] })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (client: HttpClient.HttpClient, options: Options): ServerExchange => {
  const timeout = Duration.decode(options.timeout)
  const maxBodyBytes = options.maxBodyBytes ?? defaultMaxBodyBytes
  // The platform's client spans record every response header, which the server chooses (SPEC S34): this
  // client records its own span with the endpoint, the method, the URL and the status only.
  const untraced = HttpClient.withTracerDisabledWhen(client, () => true)
  const execute = (request: HttpClientRequest.HttpClientRequest, endpoint: Endpoint) =>
    untraced.execute(request).pipe(
      Effect.catchTags({
        RequestError: (error) => Effect.fail(new HttpError({ endpoint, reason: "Transport", detail: error.reason })),
        ResponseError: (error) => Effect.fail(new HttpError({ endpoint, reason: "Transport", detail: error.reason }))
      }),
      Effect.tap((response) => Effect.annotateCurrentSpan("http.response.status_code", response.status)),
      Effect.flatMap((response) =>
        Effect.map(
          readBody(response, endpoint, maxBodyBytes),
          (body): Response => ({ status: response.status, headers: response.headers, body })
        )
      ),
      // The deadline aborts the exchange even inside an uninterruptible refresh (interruptible), and answers
      // at once while the abort finishes in the background (disconnect).
      Effect.interruptible,
      Effect.disconnect,
      Effect.interruptible,
      (exchange) =>
        Effect.raceFirst(
          exchange,
          Effect.interruptible(
            Effect.zipRight(
              deadline(Duration.toMillis(timeout)),
              Effect.failSync(() => new HttpError({ endpoint, reason: "Timeout" }))
            )
          )
        ),
      // Interruption from outside follows the caller: an interruptible caller stops waiting at once (the
      // exchange is aborted in the background); an uninterruptible one, such as a refresh in flight that must
      // store what it gets (SPEC S23), waits for the answer, never beyond the deadline (SPEC S32).
      Effect.disconnect,
      Effect.withSpan("ServerExchange.execute", {
        kind: "client",
        attributes: { "oauth.endpoint": endpoint, "http.request.method": request.method, "url.full": request.url }
      })
    )
  return { execute }
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

const describeBody = (response: Response): string => {
  if (response.body.trim().length === 0) return "empty body"
  const type = response.headers["content-type"]
  return type === undefined ? "no content type" : `content type ${Text.sanitize(type.split(";")[0], [])}`
}

/**
 * Reads an endpoint's answer (SPEC S13, S16): HTTP 200 with a JSON object is success; a 4xx with an
 * RFC 6749 §5.2 error body is an `ErrorResponse` whose `error`, `error_description` and `error_uri` are
 * sanitized (bounded, control characters stripped, every one of `secrets` scrubbed, SPEC S34); anything
 * else — a 5xx, HTML, an empty or non-JSON body — is an `HttpError`. No other body content reaches an
 * error.
 *
 * @example
 * ```ts
 * import { ServerExchange } from "@effect-oauth/core"
 * import { Headers } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * const response: ServerExchange.Response = {
 *   status: 400,
 *   headers: Headers.fromInput({ "content-type": "application/json" }),
 *   body: JSON.stringify({ error: "invalid_grant", error_description: "the code has expired" })
 * }
 *
 * const error = Effect.runSync(Effect.flip(ServerExchange.jsonObject(response, "token")))
 * assert.ok(error._tag === "ErrorResponse" && error.error === "invalid_grant" && error.status === 400)
 *
 * // A 5xx (or HTML, or an empty body) is an HttpError; its body never reaches the error.
 * const html: ServerExchange.Response = { status: 502, headers: Headers.empty, body: "<html>Bad gateway</html>" }
 * const failure = Effect.runSync(Effect.flip(ServerExchange.jsonObject(html, "token")))
 * assert.ok(failure._tag === "HttpError" && failure.status === 502)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const jsonObject = (
  response: Response,
  endpoint: Endpoint,
  secrets: ReadonlyArray<string> = []
): Effect.Effect<Record<string, unknown>, HttpError | ErrorResponse> => {
  const json = parseJsonObject(response.body)
  if (response.status === 200) {
    return json === undefined
      ? Effect.fail(new HttpError({ endpoint, reason: "Body", status: 200, detail: describeBody(response) }))
      : Effect.succeed(json)
  }
  if (response.status >= 400 && response.status < 500 && json !== undefined && typeof json.error === "string") {
    const description = Text.sanitize(json.error_description, secrets)
    const uri = Text.sanitize(json.error_uri, secrets)
    return Effect.fail(
      new ErrorResponse({
        error: Text.sanitize(json.error, secrets) ?? "",
        status: response.status,
        ...(description === undefined ? {} : { description }),
        ...(uri === undefined ? {} : { uri })
      })
    )
  }
  return Effect.fail(new HttpError({ endpoint, reason: "Status", status: response.status }))
}
