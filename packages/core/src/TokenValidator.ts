/**
 * A check of every token response before its tokens are used: `OAuthClient.exchange` and
 * `OAuthClient.refresh` run it after the response is decoded, and fail with its error instead of
 * returning the tokens. So `AccessTokens` never stores or hands out tokens it rejects, and sign-in
 * routes never keep them.
 *
 * The default accepts everything. `@effect-oauth/oidc` provides one that validates the OpenID Connect
 * ID Token (OpenID Connect Core §3.1.3.7 and §12.2); provide it to the `OAuthClient` layer.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { InvalidIdToken } from "./OAuthError.js"
import type { PendingAuthorization } from "./PendingAuthorization.js"
import type { TokenSet } from "./TokenSet.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** Checks the tokens of an authorization code exchange against the sign-in that asked for them. */
  readonly exchange: (tokens: TokenSet, pending: PendingAuthorization) => Effect.Effect<void, InvalidIdToken>
  /** Checks the tokens of a refresh against the tokens that were refreshed, when they are known. */
  readonly refresh: (tokens: TokenSet, previous: Option.Option<TokenSet>) => Effect.Effect<void, InvalidIdToken>
}

/**
 * Accepts every token response.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acceptAll: Service = {
  exchange: () => Effect.void,
  refresh: () => Effect.void
}

/**
 * The validator `OAuthClient.make` uses; `acceptAll` unless one is provided.
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenValidator extends Context.Reference<TokenValidator>()("@effect-oauth/core/TokenValidator", {
  defaultValue: (): Service => acceptAll
}) {}
