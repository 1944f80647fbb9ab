/**
 * The sign-in of `NodeSignIn` for an `HttpApi`: `Authentication` is an `HttpApiMiddleware` whose
 * endpoints need a valid session cookie and get the `NodeSignIn.SignedIn` user, and `layer` implements
 * it over the `NodeSignIn` in context.
 *
 * @since 0.1.0
 */
import type { OAuthConfig } from "@effect-oauth/core"
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpApiMiddleware from "@effect/platform/HttpApiMiddleware"
import * as HttpApiSecurity from "@effect/platform/HttpApiSecurity"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as internal from "./internal/signIn.js"
import * as NodeSignIn from "./NodeSignIn.js"

// -----------------------------------------------------------------------------
// tags
// -----------------------------------------------------------------------------

/**
 * HttpApi middleware: endpoints (or groups, or a whole API) that
 * `.middleware(NodeSignInAuthentication.Authentication)` need a valid session cookie (`oauth_session`,
 * security scheme `session`) and get the `NodeSignIn.SignedIn` user; without one they fail with
 * `HttpApiError.Unauthorized` (401). Implement it with {@link layer}.
 *
 * @example
 * ```ts
 * import { NodeSignInAuthentication } from "@effect-oauth/node"
 * import { HttpApi, HttpApiEndpoint, HttpApiGroup } from "@effect/platform"
 * import { Schema } from "effect"
 *
 * // Every endpoint of the group needs a session; its handlers can read `NodeSignIn.SignedIn`.
 * class Account extends HttpApiGroup.make("account")
 *   .add(HttpApiEndpoint.get("me", "/me").addSuccess(Schema.String))
 *   .middleware(NodeSignInAuthentication.Authentication)
 * {}
 * class Api extends HttpApi.make("app").add(Account) {}
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class Authentication
  extends HttpApiMiddleware.Tag<Authentication>()("@effect-oauth/node/NodeSignIn/Authentication", {
    failure: HttpApiError.Unauthorized,
    provides: NodeSignIn.SignedIn,
    security: { session: HttpApiSecurity.apiKey({ in: "cookie", key: "oauth_session" }) }
  })
{}

// -----------------------------------------------------------------------------
// layers
// -----------------------------------------------------------------------------

/**
 * The implementation of {@link Authentication} over the `NodeSignIn` in context. A `NodeSignIn` whose
 * session cookie is not `oauth_session` fails the layer (SPEC S39).
 *
 * @example
 * ```ts
 * import { NodeSignIn, NodeSignInAuthentication } from "@effect-oauth/node"
 * import { Layer, Redacted } from "effect"
 *
 * // Provide it next to the `HttpApiBuilder.group` layers of the groups that use `Authentication`.
 * const AuthenticationLive = NodeSignInAuthentication.layer.pipe(
 *   Layer.provideMerge(NodeSignIn.layer({ cookieKeys: [{ id: "k1", secret: Redacted.make(process.env.COOKIE_KEY ?? "") }] }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<Authentication, OAuthConfig.InvalidConfig, NodeSignIn.NodeSignIn> = Layer.effect(
  Authentication,
  Effect.flatMap(NodeSignIn.NodeSignIn, internal.authentication)
)
