/**
 * What the sign-in routes decide about a request, as functions an application can call too: the
 * `returnTo` a sign-in may go back to (SPEC S37), and whether a request is for a loopback host (where
 * cookies are not `Secure`).
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as internal from "./internal/signIn.js"

// -----------------------------------------------------------------------------
// utils
// -----------------------------------------------------------------------------

/**
 * The `returnTo` a sign-in goes back to (SPEC S37): a path on this origin after normalisation (dot
 * segments, percent-encoded and back slashes, any case), or an http(s) URL on one of `origins`;
 * anything else — `//evil.example`, `/.//evil.example`, `/%2e//evil.example`, `/a/..//evil.example`,
 * `/\evil.example` — is `fallback`.
 *
 * @example
 * ```ts
 * import { NodeSignInRequest } from "@effect-oauth/node"
 *
 * const origins = ["https://app.example.com"]
 * assert.strictEqual(NodeSignInRequest.safeReturnTo("/reports?year=2026", origins, "/"), "/reports?year=2026")
 * assert.strictEqual(NodeSignInRequest.safeReturnTo("//evil.example", origins, "/"), "/")
 * assert.strictEqual(NodeSignInRequest.safeReturnTo("https://evil.example/", origins, "/"), "/")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const safeReturnTo: (input: string | undefined, origins: ReadonlyArray<string>, fallback: string) => string =
  internal.safeReturnTo

/**
 * Whether a request is for a loopback host (127.0.0.0/8, ::1, localhost), from its `Host` header or URL.
 *
 * @example
 * ```ts
 * import { NodeSignInRequest } from "@effect-oauth/node"
 * import { HttpServerRequest } from "@effect/platform"
 *
 * const local = HttpServerRequest.fromWeb(new Request("http://127.0.0.1:3000/login"))
 * const remote = HttpServerRequest.fromWeb(new Request("https://app.example.com/login"))
 * assert.strictEqual(NodeSignInRequest.isLoopbackRequest(local), true)
 * assert.strictEqual(NodeSignInRequest.isLoopbackRequest(remote), false)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const isLoopbackRequest = (request: HttpServerRequest.HttpServerRequest): boolean =>
  internal.isLoopbackHost(internal.requestHost(request))
