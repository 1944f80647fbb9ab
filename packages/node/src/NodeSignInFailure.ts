/**
 * What a sign-in or sign-out can fail with, and how the failure is shown: `SignInError` and
 * `SignOutError`, the `Failure` given to a `renderError` option of `NodeSignIn` (the error's tag, the
 * HTTP status, a title and a message that carry no secret), and `render`, the default page (or JSON).
 *
 * @since 0.1.0
 */
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import type * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Pages from "./internal/signInPages.js"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A failure shown to the user: the error's tag (or `CrossSiteRequest`, `MethodNotAllowed`), the HTTP
 * status, and a title and message that carry no secret.
 *
 * @example
 * ```ts
 * import { NodeSignInFailure } from "@effect-oauth/node"
 * import { HttpServerResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A failure page of your own, with the same status and no secret.
 * const renderError = (failure: NodeSignInFailure.Failure) =>
 *   Effect.succeed(
 *     HttpServerResponse.text(`${failure.title}: ${failure.message} (sign in again at ${failure.loginPath})`, {
 *       status: failure.status
 *     })
 *   )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Failure extends Pages.Failure {}

/**
 * What a sign-in can fail with (rendered as a page, never raised to the router).
 *
 * @example
 * ```ts
 * import type { NodeSignInFailure } from "@effect-oauth/node"
 *
 * // What the operator might want to alert on.
 * const isProviderTrouble = (error: NodeSignInFailure.SignInError | NodeSignInFailure.SignOutError | undefined): boolean =>
 *   error !== undefined && (error._tag === "HttpError" || error._tag === "TokenStoreError")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type SignInError = Pages.SignInError

/**
 * What a sign-out can fail with (rendered as a page).
 *
 * @example
 * ```ts
 * import type { NodeSignInFailure } from "@effect-oauth/node"
 *
 * const describe = (error: NodeSignInFailure.SignOutError): string => `sign-out failed: ${error._tag}`
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type SignOutError = Pages.SignOutError

// -----------------------------------------------------------------------------
// utils
// -----------------------------------------------------------------------------

/**
 * The default rendering of a failure: a small HTML page, or JSON `{ error, title, message, login }` when
 * the request accepts `application/json` and not `text/html`.
 *
 * @example
 * ```ts
 * import { NodeSignInFailure } from "@effect-oauth/node"
 * import { HttpServerRequest } from "@effect/platform"
 *
 * const request = HttpServerRequest.fromWeb(
 *   new Request("http://127.0.0.1:3000/callback", { headers: { accept: "application/json" } })
 * )
 * const failure: NodeSignInFailure.Failure = {
 *   tag: "StateMismatch",
 *   status: 400,
 *   title: "Sign-in expired",
 *   message: "Start the sign-in again.",
 *   loginPath: "/login",
 *   error: undefined
 * }
 * const response = NodeSignInFailure.render(failure, request)
 * assert.strictEqual(response.status, 400)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const render = (
  failure: Failure,
  request: HttpServerRequest.HttpServerRequest
): HttpServerResponse.HttpServerResponse => Pages.render(failure, request.headers["accept"])
