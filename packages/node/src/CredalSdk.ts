/**
 * The Credal SDK (`@credal/sdk`) with tokens from `AccessTokens`: pass {@link clientOptions} to
 * `new CredalClient(...)` and every SDK call acts for one key, with a valid access token, one forced
 * refresh and retry after a 401 (SPEC S25), and typed failures surfaced as the SDK's own `CredalError`
 * whose `body` carries the tag (`{ _tag: "ReauthorizationRequired", message }`), never a `FiberFailure`.
 *
 * ```ts
 * import { CredalClient } from "@credal/sdk"
 * import { CredalSdk } from "@effect-oauth/node"
 * import { Effect } from "effect"
 *
 * const credalFor = (userId: string) =>
 *   Effect.map(CredalSdk.clientOptions(userId), (options) => new CredalClient(options))
 * ```
 *
 * The SDK is not a dependency of this package (an optional peer): the types below describe its
 * `fetcher` and `apiKey` options structurally, and nothing of it is imported.
 *
 * @since 0.1.0
 */
import { AccessTokens, OAuthHttpClient } from "@effect-oauth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"

/**
 * The SDK's base URL for Credal's production API (`CredalEnvironment.Production`).
 *
 * @example
 * ```ts
 * import { CredalSdk } from "@effect-oauth/node"
 *
 * // Against a staging deployment, pass its base URL instead.
 * const environment = process.env.CREDAL_API ?? CredalSdk.productionEnvironment
 * assert.ok(CredalSdk.productionEnvironment.startsWith("https://"))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const productionEnvironment = "https://api.credal.ai/api"

/**
 * What the SDK passes to its `fetcher` (`Fetcher.Args` of `@credal/sdk`).
 *
 * @example
 * ```ts
 * import type { CredalSdk } from "@effect-oauth/node"
 *
 * // What the SDK asks of its fetcher for `copilots.sendMessage`.
 * const args: CredalSdk.FetcherArgs = {
 *   url: "https://api.credal.ai/api/v0/copilots/sendMessage",
 *   method: "POST",
 *   body: { agentId: "agent", message: "Hello" },
 *   timeoutMs: 60_000
 * }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FetcherArgs {
  url: string
  method: string
  contentType?: string
  headers?: Record<string, string | undefined>
  queryParameters?: Record<string, string | Array<string> | object | Array<object>>
  body?: unknown
  timeoutMs?: number
  maxRetries?: number
  withCredentials?: boolean
  abortSignal?: AbortSignal
  requestType?: "json" | "file" | "bytes"
  responseType?: "json" | "blob" | "sse" | "streaming" | "text" | "arrayBuffer"
  duplex?: "half"
}

/**
 * What a `fetcher` answers (`APIResponse<R, Fetcher.Error>` of `@credal/sdk`).
 *
 * @example
 * ```ts
 * import type { CredalSdk } from "@effect-oauth/node"
 *
 * const describe = (response: CredalSdk.FetcherResponse<unknown>): string =>
 *   response.ok
 *     ? "ok"
 *     : response.error.reason === "status-code"
 *     ? `status ${response.error.statusCode}`
 *     : response.error.reason
 * assert.strictEqual(describe({ ok: false, error: { reason: "timeout" } }), "timeout")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type FetcherResponse<R> =
  | { ok: true; body: R; headers?: Record<string, string> }
  | {
    ok: false
    error:
      | { reason: "status-code"; statusCode: number; body: unknown }
      | { reason: "non-json"; statusCode: number; rawBody: string }
      | { reason: "timeout" }
      | { reason: "unknown"; errorMessage: string }
  }

/**
 * The SDK's `fetcher` option (`FetchFunction` of `@credal/sdk`).
 *
 * @example
 * ```ts
 * import { CredalSdk } from "@effect-oauth/node"
 * import { Effect } from "effect"
 *
 * // A fetcher that logs each call before handing it to the key's own fetcher.
 * const logged = (key: string) =>
 *   Effect.map(CredalSdk.fetcher(key), (fetch): CredalSdk.Fetcher => (args) => {
 *     process.stderr.write(`${args.method} ${args.url}\n`)
 *     return fetch(args)
 *   })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Fetcher = <R = unknown>(args: FetcherArgs) => Promise<FetcherResponse<R>>

/**
 * The options to give `new CredalClient(...)`.
 *
 * @example
 * ```ts
 * import { CredalClient } from "@credal/sdk"
 * import { CredalSdk } from "@effect-oauth/node"
 * import { Effect } from "effect"
 *
 * const credalFor = (userId: string) =>
 *   Effect.map(
 *     CredalSdk.clientOptions(userId, { environment: "http://127.0.0.1:4010/api" }),
 *     (options: CredalSdk.ClientOptions) => new CredalClient(options)
 *   )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ClientOptions {
  /** Only to satisfy the SDK, which insists on one: the fetcher sets the real token on every request. */
  readonly apiKey: () => string
  readonly fetcher: Fetcher
  readonly environment?: string
}

/**
 * The body of the `CredalError` that a typed failure becomes: its tag and message (never a secret).
 *
 * @example
 * ```ts
 * import { CredalError } from "@credal/sdk"
 * import type { CredalSdk } from "@effect-oauth/node"
 *
 * // The body of a `CredalError` raised when the user must sign in again.
 * const body: CredalSdk.ErrorBody = { _tag: "ReauthorizationRequired", message: "Sign in again." }
 * const error = new CredalError({ statusCode: 401, body })
 * assert.strictEqual((error.body as CredalSdk.ErrorBody)._tag, "ReauthorizationRequired")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface ErrorBody {
  readonly _tag: string
  readonly message: string
  readonly reason?: string | undefined
}

/**
 * The tag of the typed failure behind an SDK error (a `CredalError` made by {@link fetcher}), if any.
 *
 * @example
 * ```ts
 * import { CredalError } from "@credal/sdk"
 * import { CredalSdk } from "@effect-oauth/node"
 * import { Option } from "effect"
 *
 * const error = new CredalError({ statusCode: 401, body: { _tag: "ReauthorizationRequired", message: "Sign in again." } })
 * assert.deepStrictEqual(CredalSdk.errorTag(error), Option.some("ReauthorizationRequired"))
 * assert.ok(Option.isNone(CredalSdk.errorTag(new Error("network down"))))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const errorTag = (error: unknown): Option.Option<string> =>
  Predicate.hasProperty(error, "body") && Predicate.hasProperty(error.body, "_tag") &&
    typeof error.body._tag === "string"
    ? Option.some(error.body._tag)
    : Option.none()

const statusOf = (error: AccessTokens.GetError): number => {
  switch (error._tag) {
    case "ReauthorizationRequired":
      return 401
    case "TokenStoreError":
      return 503
    default:
      return 502
  }
}

const errorBody = (error: AccessTokens.GetError): ErrorBody => ({
  _tag: error._tag,
  message: error.message,
  ...("reason" in error && typeof error.reason === "string" ? { reason: error.reason } : {})
})

const withQuery = (request: HttpClientRequest.HttpClientRequest, query: FetcherArgs["queryParameters"]) => {
  if (query === undefined) return request
  let next = request
  for (const [name, value] of Object.entries(query)) {
    const values: ReadonlyArray<unknown> = Array.isArray(value) ? value : [value]
    for (const item of values) {
      next = HttpClientRequest.appendUrlParam(next, name, typeof item === "string" ? item : JSON.stringify(item))
    }
  }
  return next
}

const withBody = (request: HttpClientRequest.HttpClientRequest, args: FetcherArgs) => {
  if (args.body === undefined) return request
  if (args.requestType === "json" || args.requestType === undefined) {
    return HttpClientRequest.bodyText(request, JSON.stringify(args.body), args.contentType ?? "application/json")
  }
  if (typeof args.body === "string") return HttpClientRequest.bodyText(request, args.body, args.contentType)
  if (args.body instanceof Uint8Array) return HttpClientRequest.bodyUint8Array(request, args.body, args.contentType)
  return HttpClientRequest.bodyText(request, JSON.stringify(args.body), args.contentType ?? "application/json")
}

const toRequest = (args: FetcherArgs): HttpClientRequest.HttpClientRequest => {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(args.headers ?? {})) {
    // The SDK's own Authorization header (from `apiKey`) is replaced with the key's token.
    if (value !== undefined && name.toLowerCase() !== "authorization") headers[name] = value
  }
  const request = HttpClientRequest.make(args.method.toUpperCase() as HttpClientRequest.HttpClientRequest["method"])(
    args.url,
    { headers }
  )
  return withBody(withQuery(request, args.queryParameters), args)
}

const readBody = <R>(
  response: HttpClientResponse.HttpClientResponse,
  responseType: FetcherArgs["responseType"]
): Effect.Effect<FetcherResponse<R>, HttpClientError.ResponseError> =>
  Effect.gen(function*() {
    const ok = response.status >= 200 && response.status < 400
    const headers = response.headers
    if (responseType === "arrayBuffer" || responseType === "blob") {
      const bytes = yield* response.arrayBuffer
      const body = responseType === "blob" ? new Blob([bytes]) : bytes
      return ok
        ? { ok: true, body: body as R, headers }
        : { ok: false, error: { reason: "status-code", statusCode: response.status, body } }
    }
    const text = yield* response.text
    if (responseType === "text" || responseType === "sse" || responseType === "streaming") {
      return ok
        ? { ok: true, body: text as R, headers }
        : { ok: false, error: { reason: "status-code", statusCode: response.status, body: text } }
    }
    const parsed = text.length === 0 ? Option.some<unknown>(undefined) : parseJson(text)
    if (Option.isNone(parsed)) {
      return { ok: false, error: { reason: "non-json", statusCode: response.status, rawBody: text } }
    }
    return ok
      ? { ok: true, body: parsed.value as R, headers }
      : { ok: false, error: { reason: "status-code", statusCode: response.status, body: parsed.value } }
  })

const parseJson = Option.liftThrowable((text: string): unknown => JSON.parse(text))

/**
 * A `fetcher` for the SDK acting for `key`: each request goes through the `HttpClient` in context with
 * the key's access token (`OAuthHttpClient`: one forced refresh and one retry after a 401, SPEC S25).
 * A failure to get a token becomes a `status-code` answer (401 for `ReauthorizationRequired`, 503 for a
 * store failure, 502 otherwise) whose body is {@link ErrorBody}, which the SDK raises as its own
 * `CredalError`. `timeoutMs` and `abortSignal` are honoured; the SDK's `maxRetries` is not (a refresh
 * is never retried blindly).
 *
 * @example
 * ```ts
 * import { CredalClient } from "@credal/sdk"
 * import { CredalSdk } from "@effect-oauth/node"
 * import { Effect } from "effect"
 *
 * // `clientOptions` does this; the fetcher alone suits an SDK option object of your own.
 * const credalFor = (userId: string) =>
 *   Effect.map(CredalSdk.fetcher(userId), (fetcher) => new CredalClient({ apiKey: "unused", fetcher }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fetcher = (
  key: string
): Effect.Effect<Fetcher, never, AccessTokens.AccessTokens | HttpClient.HttpClient> =>
  Effect.gen(function*() {
    const http = yield* OAuthHttpClient.make(key)
    const runtime = yield* Effect.runtime<never>()
    const run = Runtime.runPromiseExit(runtime)
    return <R>(args: FetcherArgs): Promise<FetcherResponse<R>> => {
      const timeout = args.timeoutMs === undefined ? Duration.infinity : Duration.millis(args.timeoutMs)
      const exchange: Effect.Effect<FetcherResponse<R>> = http.execute(toRequest(args)).pipe(
        Effect.flatMap((response) => readBody<R>(response, args.responseType)),
        Effect.scoped,
        Effect.timeoutFail({ duration: timeout, onTimeout: () => "timeout" as const }),
        Effect.catchAll((error): Effect.Effect<FetcherResponse<R>> => {
          if (error === "timeout") return Effect.succeed({ ok: false, error: { reason: "timeout" } })
          switch (error._tag) {
            case "RequestError":
            case "ResponseError":
              return Effect.succeed({ ok: false, error: { reason: "unknown", errorMessage: error.message } })
            default:
              return Effect.succeed({
                ok: false,
                error: { reason: "status-code", statusCode: statusOf(error), body: errorBody(error) }
              })
          }
        })
      )
      return run(exchange, args.abortSignal === undefined ? undefined : { signal: args.abortSignal }).then((exit) =>
        Exit.isSuccess(exit)
          ? exit.value
          : {
            ok: false,
            error: {
              reason: "unknown",
              errorMessage: Cause.isInterruptedOnly(exit.cause) ? "The user aborted a request" : "request failed"
            }
          }
      )
    }
  })

/**
 * An `apiKey` supplier for the SDK acting for `key` (`AccessTokens.supplier`): the current access
 * token, returned at once from memory while it is fresh (invalidations seen), else a Promise of a
 * refreshed one. A failure rejects with the typed error itself
 * (`ReauthorizationRequired`…, an `OAuthError`), never a `FiberFailure`. Prefer {@link clientOptions},
 * which also refreshes after a 401 and surfaces failures as `CredalError`s.
 *
 * @example
 * ```ts
 * import { CredalClient } from "@credal/sdk"
 * import { CredalSdk } from "@effect-oauth/node"
 * import { Effect } from "effect"
 *
 * // The SDK's own fetch, with the key's current access token as its API key.
 * const credalFor = (userId: string) => Effect.map(CredalSdk.apiKey(userId), (apiKey) => new CredalClient({ apiKey }))
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const apiKey = (key: string): Effect.Effect<() => string | Promise<string>, never, AccessTokens.AccessTokens> =>
  AccessTokens.supplier(key)

/**
 * The options of `new CredalClient(...)` acting for `key`: the {@link fetcher}, an `apiKey` the SDK
 * insists on (never sent: the fetcher sets the token), and `environment` when given (the API's base
 * URL, such as a mock's `http://127.0.0.1:4010/api`).
 *
 * @example
 * ```ts
 * import { CredalClient } from "@credal/sdk"
 * import { CredalSdk } from "@effect-oauth/node"
 * import { Effect } from "effect"
 *
 * export const send = (userId: string, message: string) =>
 *   Effect.gen(function*() {
 *     const credal = new CredalClient(yield* CredalSdk.clientOptions(userId))
 *     return yield* Effect.promise(() => credal.copilots.sendMessage({ agentId: "agent", message, userEmail: "a@b.c" }))
 *   })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const clientOptions = (
  key: string,
  options?: { readonly environment?: string | undefined }
): Effect.Effect<ClientOptions, never, AccessTokens.AccessTokens | HttpClient.HttpClient> =>
  Effect.map(fetcher(key), (fetch) => ({
    apiKey: () => "set-by-the-effect-oauth-fetcher",
    fetcher: fetch,
    ...(options?.environment === undefined ? {} : { environment: options.environment })
  }))
