/**
 * One bounded GET of a JSON document from the provider, through core's `ServerExchange` (SPEC S32): a
 * single deadline covers the connection, the headers and the whole body; the body is read up to a size
 * limit; its content never reaches an error.
 *
 * @internal
 */
import { ServerExchange } from "@effect-oauth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import { parseObject } from "./json.js"

/** @internal */
export interface Failure {
  readonly reason: "Transport" | "Timeout" | "Status" | "Body" | "TooLarge"
  readonly status?: number | undefined
}

/** @internal */
export interface Document {
  readonly status: number
  /** The body as a JSON object, when it is one. */
  readonly json: Option.Option<Readonly<Record<string, unknown>>>
}

/** @internal */
export const getJson = (
  client: HttpClient.HttpClient,
  url: URL,
  options: {
    readonly endpoint: "discovery" | "jwks" | "userinfo"
    readonly timeout: Duration.DurationInput
    readonly maxBytes?: number | undefined
    readonly bearer?: Redacted.Redacted<string> | undefined
  }
): Effect.Effect<Document, Failure> => {
  const base = HttpClientRequest.get(url).pipe(HttpClientRequest.acceptJson)
  const request = options.bearer === undefined ? base : HttpClientRequest.bearerToken(base, options.bearer)
  return ServerExchange.make(client, { timeout: options.timeout, maxBodyBytes: options.maxBytes })
    .execute(request, options.endpoint)
    .pipe(
      Effect.mapError((error): Failure => ({ reason: error.reason, status: error.status })),
      Effect.map((response): Document => ({ status: response.status, json: parseObject(response.body) }))
    )
}

/** @internal */
export const defaultTimeout = Duration.seconds(30)
