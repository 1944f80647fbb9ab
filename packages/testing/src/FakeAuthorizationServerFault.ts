/**
 * Fault injection for the fake authorization server: which requests a fault hits (`FaultTarget`), the
 * faults themselves (`Fault`, from plain status codes and delays to the hostile server's stalled bodies
 * and echoed secrets), and what a request gets under them (`Answer`). Queue one with
 * `FakeAuthorizationServer`'s `inject`.
 *
 * @since 0.1.0
 */
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Data from "effect/Data"
import type * as Duration from "effect/Duration"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Which requests a fault applies to: an endpoint, optionally a `grant_type` (token endpoint), and how many
 * matching requests it affects (default 1).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServerFault } from "@effect-oauth/testing"
 *
 * // The next two refreshes (not code exchanges) fail with 503.
 * const target: FakeAuthorizationServerFault.FaultTarget = { endpoint: "token", grantType: "refresh_token", times: 2 }
 * const fault = FakeAuthorizationServerFault.Fault.Status({ ...target, status: 503 })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FaultTarget {
  readonly endpoint: "token" | "revoke" | "api" | "metadata" | "any"
  readonly grantType?: string | undefined
  readonly times?: number | undefined
}

/**
 * Broken 200 bodies of the `MalformedBody` fault.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServerFault } from "@effect-oauth/testing"
 *
 * const kinds: ReadonlyArray<FakeAuthorizationServerFault.MalformedBodyKind> = ["html", "empty", "not-json"]
 * const faults = kinds.map((kind) => FakeAuthorizationServerFault.Fault.MalformedBody({ endpoint: "token", kind }))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type MalformedBodyKind =
  | "html"
  | "empty"
  | "not-json"
  | "json-array"
  | "wrong-types"
  | "missing-access-token"
  | "wrong-token-type"
  | "huge-body"

/**
 * Injected faults. A request consumes at most one `Delay` and one other fault (the first queued that match).
 *
 * - `Status`: answers `status` with `body` / `headers` without touching state.
 * - `Delay`: `Effect.sleep(duration)` (TestClock-driven) before handling.
 * - `MalformedBody`: a broken 200 response, state untouched.
 * - `HugeTokens`: real handling; the tokens issued are `size` characters long.
 * - `TokenResponseExtras`: real handling; `extras` are merged into the token response JSON.
 * - `CommitThenDrop`: real handling (state changes), then a `RequestError` with reason `Transport`.
 * - `TransportError`: a `RequestError` with reason `Transport`, state untouched.
 *
 * The faults of a hostile server (SPEC S32–S34), for the library's tests and for users' own:
 *
 * - `StalledBody`: real handling (state changes); the status, the headers and the first `bytes` of the
 *   body (default: half of it) arrive, then the body never ends. Over HTTP the socket stays open.
 * - `StalledHeaders`: real handling (state changes); the headers never finish. In memory no response
 *   arrives; over HTTP on Node the status line and part of the headers are written, then nothing.
 * - `EchoRequest`: answers `status` (default 400) with an RFC 6749 §5.2 error (default
 *   `invalid_request`) whose `error_description` and `error_uri` echo the request: its body, every form
 *   value and the Authorization header, as sent and URL-, form- and Base64-encoded. State untouched.
 * - `DeepJson`: real handling (state changes); the JSON body's `field` (default `scope`) is replaced by
 *   arrays nested `depth` levels deep.
 * - `OutOfRangeNumbers`: real handling (state changes); the token response's `expires_in` is
 *   `expiresIn` (default 9999999999999, far past the range of a JavaScript date).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServerFault } from "@effect-oauth/testing"
 *
 * const faults: ReadonlyArray<FakeAuthorizationServerFault.Fault> = [
 *   FakeAuthorizationServerFault.Fault.Delay({ endpoint: "token", duration: "5 seconds" }),
 *   FakeAuthorizationServerFault.Fault.TransportError({ endpoint: "revoke" })
 * ]
 * assert.deepStrictEqual(faults.map((fault) => fault._tag), ["Delay", "TransportError"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Fault = Data.TaggedEnum<{
  Status: FaultTarget & {
    readonly status: number
    readonly body?: string | undefined
    readonly headers?: Readonly<Record<string, string>> | undefined
  }
  Delay: FaultTarget & { readonly duration: Duration.DurationInput }
  MalformedBody: FaultTarget & { readonly kind: MalformedBodyKind }
  HugeTokens: FaultTarget & { readonly size: number }
  TokenResponseExtras: FaultTarget & { readonly extras: Readonly<Record<string, unknown>> }
  CommitThenDrop: FaultTarget
  TransportError: FaultTarget
  StalledBody: FaultTarget & { readonly bytes?: number | undefined }
  StalledHeaders: FaultTarget
  EchoRequest: FaultTarget & { readonly status?: number | undefined; readonly error?: string | undefined }
  DeepJson: FaultTarget & { readonly depth: number; readonly field?: string | undefined }
  OutOfRangeNumbers: FaultTarget & { readonly expiresIn?: number | string | undefined }
}>

/**
 * What `answer` gives: a response, or headers that never finish.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerFault } from "@effect-oauth/testing"
 * import { HttpClientRequest } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // What an adapter to real HTTP writes for a request.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const answer: FakeAuthorizationServerFault.Answer = yield* server.answer(
 *     HttpClientRequest.get(server.endpoints.oauthMetadata)
 *   )
 *   return answer._tag === "Response" ? answer.response.status : undefined
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), 200)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Answer =
  | {
    readonly _tag: "Response"
    readonly response: HttpClientResponse.HttpClientResponse
    /** The body never ends (`StalledBody`): an adapter streams it instead of reading it first. */
    readonly stalled?: boolean | undefined
  }
  | {
    readonly _tag: "StalledHeaders"
    readonly status: number
    readonly headers: Readonly<Record<string, string>>
  }

// -----------------------------------------------------------------------------
// constructors
// -----------------------------------------------------------------------------

/**
 * Constructors of `Fault`: `Fault.Status({ endpoint: "token", status: 503 })`.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerFault } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The next token request answers 503, without touching the server's state.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   yield* server.inject(FakeAuthorizationServerFault.Fault.Status({ endpoint: "token", status: 503 }))
 *   return (yield* server.pendingFaults).length
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), 1)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const Fault = Data.taggedEnum<Fault>()
