/**
 * The mock Credal: the fake authorization server over HTTP (login and consent page, token, revocation,
 * metadata, the v1 API under `/api/v1`) plus the routes the Credal SDK (`@credal/sdk`) calls, under
 * `/api/v0` — give the SDK `environment: "<origin>/api"`:
 *
 * | route | answer |
 * | --- | --- |
 * | `POST /api/v0/copilots/createConversation` `{ agentId, userEmail }` | `{ conversationId }` |
 * | `POST /api/v0/copilots/sendMessage` `{ agentId, message, userEmail, conversationId? }` | `{ sendChatResult: { type: "ai_response_result", … } }` echoing the message |
 * | `POST /api/v0/copilots/provideMessageFeedback` | 200, empty |
 *
 * Each checks the Bearer token exactly as the v1 API does (a 401 with `WWW-Authenticate` for a missing,
 * expired or revoked one) and is logged and counted as an `api` request of the fake.
 */
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as FakeAuthorizationServerHttp from "@effect-oauth/testing/FakeAuthorizationServerHttp"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import type * as HttpApp from "@effect/platform/HttpApp"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Http from "node:http"

/** The path under the origin where the SDK's routes live (the SDK's `environment` is `<origin>/api`). */
export const sdkBasePath = "/api/v0"

/** The SDK's `environment` for a mock at `origin`. */
export const sdkEnvironment = (origin: string): string => `${origin}/api`

const SendMessage = Schema.Struct({
  agentId: Schema.String,
  message: Schema.String,
  userEmail: Schema.String,
  conversationId: Schema.optional(Schema.String)
})

const CreateConversation = Schema.Struct({ agentId: Schema.String, userEmail: Schema.String })

const Whoami = Schema.Struct({ user: Schema.String })

const json = (status: number, body: unknown) =>
  HttpServerResponse.unsafeJson(body, { status, headers: { "cache-control": "no-store" } })

const newId = (prefix: string) => `${prefix}_${Crypto.randomBytes(9).toString("base64url")}`

/**
 * The user of the request's Bearer token, checked by the fake's own v1 API (logged and counted there):
 * the user, or the fake's refusal (401 with `WWW-Authenticate`) as it is.
 */
const authenticate = (
  server: FakeAuthorizationServer.FakeAuthorizationServer.Service,
  authorization: string | undefined
): Effect.Effect<Either.Either<string, HttpServerResponse.HttpServerResponse>> =>
  Effect.gen(function*() {
    const whoami = HttpClientRequest.get(`${server.endpoints.apiBase}/whoami`)
    const response = yield* server.handle(
      authorization === undefined ? whoami : HttpClientRequest.setHeader(whoami, "authorization", authorization)
    )
    if (response.status !== 200) {
      const body = yield* Effect.orElseSucceed(response.text, () => "")
      const challenge = response.headers["www-authenticate"]
      return Either.left(
        HttpServerResponse.text(body, {
          status: response.status,
          contentType: response.headers["content-type"] ?? "application/json",
          headers: challenge === undefined ? {} : { "www-authenticate": challenge }
        })
      )
    }
    const who = yield* Effect.flatMap(response.json, Schema.decodeUnknown(Whoami))
    return Either.right(who.user)
  }).pipe(Effect.orElseSucceed(() => Either.left(json(500, { error: "server_error" }))))

const reply = (conversationId: string, message: string) => ({
  sendChatResult: {
    type: "ai_response_result",
    policy_triggers: [],
    conversationId,
    response: { message: `echo: ${message}`, dataChunk: "" },
    warnings: [],
    inserted_audit_log: { id: newId("audit") },
    referencedSources: [],
    sourcesInDataContext: [],
    webSearchResults: [],
    messageId: newId("msg")
  }
})

/** The SDK's routes in front of `app` (every other request goes to `app`). */
export const withSdkRoutes = <E, R>(
  app: HttpApp.Default<E, R>
): HttpApp.Default<E, R | FakeAuthorizationServer.FakeAuthorizationServer> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const url = new URL(request.url, "http://mock.invalid")
    if (!url.pathname.startsWith(`${sdkBasePath}/`)) return yield* app
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const route = `${request.method} ${url.pathname.slice(sdkBasePath.length)}`
    const known = [
      "POST /copilots/sendMessage",
      "POST /copilots/createConversation",
      "POST /copilots/provideMessageFeedback"
    ]
    if (!known.includes(route)) return json(404, { error: "not_found" })
    const who = yield* authenticate(server, request.headers["authorization"])
    if (Either.isLeft(who)) return who.left
    const body = yield* Effect.orElseSucceed(request.json, () => undefined)
    switch (route) {
      case "POST /copilots/createConversation": {
        const input = Schema.decodeUnknownOption(CreateConversation)(body)
        if (Option.isNone(input)) return json(400, { error: "invalid_request" })
        return json(200, { conversationId: newId("conv") })
      }
      case "POST /copilots/sendMessage": {
        const input = Schema.decodeUnknownOption(SendMessage)(body)
        if (Option.isNone(input)) return json(400, { error: "invalid_request" })
        return json(200, reply(input.value.conversationId ?? newId("conv"), input.value.message))
      }
      default:
        return HttpServerResponse.empty({ status: 200 })
    }
  })

/** Destroys the socket: the client sees the connection end without an answer. */
const dropConnection = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  NodeHttpServerRequest.toServerResponse(request).destroy()
  return HttpServerResponse.empty({ status: 502 })
})

/** The whole mock as an `HttpApp`: the SDK's routes, then the fake server's. */
export const httpApp: HttpApp.Default<never, FakeAuthorizationServer.FakeAuthorizationServer> = withSdkRoutes(
  FakeAuthorizationServerHttp.make({ dropConnection })
)

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The port on 127.0.0.1; default 0, a free one. */
  readonly port?: number | undefined
  readonly server?: Partial<FakeAuthorizationServer.Options> | undefined
}

/**
 * The mock Credal on 127.0.0.1 for the lifetime of the layer, with the fake server behind it (its log,
 * counters and faults); its issuer is the listening origin.
 */
export const layer = (
  options?: Options
): Layer.Layer<FakeAuthorizationServer.FakeAuthorizationServer | HttpServer.HttpServer, HttpServerError.ServeError> =>
  HttpServer.serve(httpApp).pipe(
    Layer.provideMerge(
      Layer.effect(
        FakeAuthorizationServer.FakeAuthorizationServer,
        Effect.flatMap(
          HttpServer.addressWith((address) =>
            Effect.succeed(address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1")
          ),
          (issuer) => FakeAuthorizationServer.make({ ...options?.server, issuer })
        )
      )
    ),
    Layer.provideMerge(
      NodeHttpServer.layerServer(() => Http.createServer(), { host: "127.0.0.1", port: options?.port ?? 0 })
    )
  )
