/**
 * The fake authorization server over real HTTP on Node.js: a loopback server (`127.0.0.1`) whose issuer
 * is its own origin, so that its endpoints, metadata and browser login page are real URLs for a live
 * client, a browser or `curl`. Needs the optional peer dependency `@effect/platform-node`.
 *
 * @since 0.1.0
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Http from "node:http"
import * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"
import * as FakeAuthorizationServerHttp from "./FakeAuthorizationServerHttp.js"

/**
 * @example
 * ```ts
 * import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
 *
 * const options: NodeFakeAuthorizationServer.Options = { port: 4000, server: { requirePkce: true } }
 * const ServerLive = NodeFakeAuthorizationServer.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The port to listen on, on 127.0.0.1; default 0, a free port chosen by the system. */
  readonly port?: number | undefined
  /** Options of the fake server; its `issuer` is always the listening origin `http://127.0.0.1:<port>`. */
  readonly server?: Partial<FakeAuthorizationServer.Options> | undefined
}

/**
 * The listening origin, `http://127.0.0.1:<port>`: the fake's issuer and the base of its endpoints.
 *
 * @example
 * ```ts
 * import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
 * import { Console, Effect, Layer } from "effect"
 *
 * // Prints where the fake listens, then keeps it up (until interrupted) when run.
 * const program = Effect.zipRight(
 *   Effect.flatMap(NodeFakeAuthorizationServer.url, (origin) => Console.log(`Fake issuer at ${origin}`)),
 *   Effect.never
 * ).pipe(Effect.provide(NodeFakeAuthorizationServer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const url: Effect.Effect<string, never, HttpServer.HttpServer> = HttpServer.addressWith((address) =>
  address._tag === "TcpAddress"
    ? Effect.succeed(
      `http://${address.hostname.includes(":") ? `[${address.hostname}]` : address.hostname}:${address.port}`
    )
    : Effect.dieMessage("NodeFakeAuthorizationServer: the server listens on a Unix socket, not on TCP")
)

/** Destroys the socket: the client sees the connection end without an answer. */
const dropConnection = Effect.map(HttpServerRequest.HttpServerRequest, (request) => {
  NodeHttpServerRequest.toServerResponse(request).destroy()
  return HttpServerResponse.empty({ status: 502 })
})

/** Writes the status line and part of the headers, then nothing: the client waits for the end of the headers. */
const stallHeaders = (status: number, headers: Readonly<Record<string, string>>) =>
  Effect.flatMap(HttpServerRequest.HttpServerRequest, (request) => {
    const socket = NodeHttpServerRequest.toServerResponse(request).socket
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
    socket?.write(`HTTP/1.1 ${status} OK\r\n${lines}`)
    return Effect.never
  })

/**
 * Starts the fake authorization server on 127.0.0.1 (`port`, default a random one) for the lifetime of the
 * layer, and provides it as `FakeAuthorizationServer` (log, counters, faults of the served fake) with the
 * `HttpServer` (its address). A `TransportError` or `CommitThenDrop` fault destroys the connection; `StalledBody` keeps it
 * open after the headers and part of the body, `StalledHeaders` after part of the headers.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
 * import { Effect, Redacted } from "effect"
 *
 * // A live client's configuration, pointed at the fake's real URLs.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   return OAuthConfig.credal({
 *     clientId: FakeAuthorizationServer.defaultClient.clientId,
 *     clientSecret: Redacted.make(FakeAuthorizationServer.defaultClient.clientSecret),
 *     redirectUri: "http://127.0.0.1:3000/callback",
 *     authorizationEndpoint: server.endpoints.authorization,
 *     tokenEndpoint: server.endpoints.token
 *   })
 * }).pipe(Effect.provide(NodeFakeAuthorizationServer.layer()))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  FakeAuthorizationServer.FakeAuthorizationServer | HttpServer.HttpServer,
  HttpServerError.ServeError
> =>
  HttpServer.serve(FakeAuthorizationServerHttp.make({ dropConnection, stallHeaders })).pipe(
    Layer.provideMerge(
      Layer.effect(
        FakeAuthorizationServer.FakeAuthorizationServer,
        Effect.flatMap(url, (issuer) => FakeAuthorizationServer.make({ ...options?.server, issuer }))
      )
    ),
    Layer.provideMerge(
      NodeHttpServer.layerServer(() => Http.createServer(), { host: "127.0.0.1", port: options?.port ?? 0 })
    )
  )
