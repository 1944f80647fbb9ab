import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"

export interface Recorded {
  readonly method: string
  readonly url: string
  readonly headers: Readonly<Record<string, string>>
  readonly body: string
  readonly form: URLSearchParams
}

export type Reply =
  | {
    readonly status: number
    readonly body?: string
    readonly headers?: Record<string, string>
    readonly delay?: Duration.DurationInput
  }
  | "transport-error"

const bodyText = (request: HttpClientRequest.HttpClientRequest): string =>
  request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""

/**
 * An HttpClient that records every request and answers with `reply`, for checking the exact shape
 * of what the client sends.
 */
export const make = (reply: (request: Recorded) => Reply) =>
  Effect.gen(function*() {
    const log = yield* Ref.make<ReadonlyArray<Recorded>>([])
    const client = HttpClient.make((request, url) =>
      Effect.gen(function*() {
        const body = bodyText(request)
        const recorded: Recorded = {
          method: request.method,
          url: url.href,
          headers: request.headers,
          body,
          form: new URLSearchParams(body)
        }
        yield* Ref.update(log, (all) => [...all, recorded])
        const answer = reply(recorded)
        if (answer === "transport-error") {
          return yield* new HttpClientError.RequestError({
            request,
            reason: "Transport",
            description: "connection reset"
          })
        }
        if (answer.delay !== undefined) yield* Effect.sleep(answer.delay)
        return HttpClientResponse.fromWeb(
          request,
          new Response(answer.body ?? "", {
            status: answer.status,
            headers: { "content-type": "application/json", ...answer.headers }
          })
        )
      })
    )
    return { client, log: Ref.get(log), layer: Layer.succeed(HttpClient.HttpClient, client) }
  })

export const tokenJson = (fields: Record<string, unknown> = {}): Exclude<Reply, string> => ({
  status: 200,
  body: JSON.stringify({
    access_token: "at-123",
    token_type: "Bearer",
    expires_in: 3600,
    refresh_token: "rt-123",
    ...fields
  })
})
