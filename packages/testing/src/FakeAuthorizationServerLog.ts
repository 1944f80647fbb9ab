/**
 * The fake authorization server's request log: every request it saw (`LoggedRequest`), which endpoint it
 * hit (`Endpoint`), and the counters derived from the log (`Counters`). Read them with
 * `FakeAuthorizationServer`'s `requests` and `counters`; `clearLog` resets both.
 *
 * @since 0.1.0
 */
import type * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"
import type * as FakeAuthorizationServerFault from "./FakeAuthorizationServerFault.js"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Which endpoint a request hit. `authorize` entries come from `approve` / `deny` (and from `prompt` when it
 * refuses or redirects with an error); `metadata` is either well-known metadata document.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerLog } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // How many requests reached one endpoint.
 * const hits = (endpoint: FakeAuthorizationServerLog.Endpoint) =>
 *   Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) => server.requests).pipe(
 *     Effect.map((requests) => requests.filter((request) => request.endpoint === endpoint).length)
 *   )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Endpoint = "authorize" | "token" | "revoke" | "api" | "metadata" | "other"

/**
 * One request seen by the fake server. Values are raw (this is a test tool): form parameters and headers
 * carry secrets and tokens as sent.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerLog } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The client authentication of every token request, to check that the secret went in the header.
 * const authMethods = Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) => server.requests).pipe(
 *   Effect.map((requests: ReadonlyArray<FakeAuthorizationServerLog.LoggedRequest>) =>
 *     requests.filter((request) => request.endpoint === "token").map((request) => request.clientAuth)
 *   )
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface LoggedRequest {
  /** Clock time (ms) at which the request arrived (before any injected delay). */
  readonly at: number
  readonly endpoint: Endpoint
  readonly method: string
  readonly url: string
  /** Request headers, lower-case names. */
  readonly headers: Readonly<Record<string, string>>
  /** Form parameters (last value when repeated); query parameters for `authorize` entries. */
  readonly form: Readonly<Record<string, string>>
  readonly grantType?: string | undefined
  /** HTTP status produced; 302 for `approve`/`deny` redirects, 0 when a `TransportError` fault dropped it. */
  readonly status: number
  /** The OAuth error code (or the `FakeAuthorizationError` reason for refused authorization requests). */
  readonly error?: string | undefined
  readonly clientId?: string | undefined
  readonly clientAuth?: FakeAuthorizationServer.ClientAuthMethod | undefined
  readonly refreshTokenPresented?: string | undefined
  /** The refresh token presented had already been rotated (also `true` for grace-window replays). */
  readonly reusedRefreshToken: boolean
  /** A rotated refresh token was answered with its successor tokens thanks to the grace window. */
  readonly graceReplay: boolean
  /** The fault applied to this request, if any (a `Delay` is reported only when it was the sole fault). */
  readonly fault?: FakeAuthorizationServerFault.Fault["_tag"] | undefined
  /** `false` when the client never saw the response (`TransportError`, `CommitThenDrop`). */
  readonly delivered: boolean
}

/**
 * Request counters, derived from the request log (so `clearLog` resets them).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerLog } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const counters: FakeAuthorizationServerLog.Counters = yield* server.counters
 *   return counters.refreshToken
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), 0)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Counters {
  readonly authorize: number
  readonly token: number
  readonly authorizationCode: number
  readonly refreshToken: number
  readonly revoke: number
  readonly api: number
  readonly reusedRefreshTokens: number
}
