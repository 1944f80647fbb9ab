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
 * @example
 * ```ts
 * import { OAuthClient, type OAuthConfig, OAuthError, TokenValidator } from "@effect-oauth/core"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { Effect, Layer, Option, Redacted } from "effect"
 *
 * // Rejects every exchange whose response carries no ID Token.
 * const requireIdToken: TokenValidator.Service = {
 *   exchange: (tokens) =>
 *     Option.isSome(tokens.idToken)
 *       ? Effect.void
 *       : Effect.fail(new OAuthError.InvalidIdToken({ check: "missing", during: "exchange" })),
 *   refresh: () => Effect.void
 * }
 * // A fake token endpoint that answers without an `id_token`.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(JSON.stringify({ access_token: "at-1", token_type: "Bearer" }), { status: 200, headers: { "content-type": "application/json" } })
 *     )
 *   )
 * )
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["openid"]
 * }
 * const Client = OAuthClient.layerWithConfig(options).pipe(
 *   Layer.provide(Layer.succeed(HttpClient.HttpClient, server)),
 *   Layer.provide(Layer.succeed(TokenValidator.TokenValidator, requireIdToken))
 * )
 * const program = Effect.gen(function*() {
 *   const client = yield* OAuthClient.OAuthClient
 *   const { pending } = yield* client.authorize()
 *   return yield* Effect.flip(client.exchange(Redacted.make("code-1"), pending))
 * })
 * const error = await Effect.runPromise(Effect.provide(program, Client))
 * assert.ok(error._tag === "InvalidIdToken" && error.check === "missing")
 * ```
 *
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
 * @example
 * ```ts
 * import { TokenSet, TokenValidator } from "@effect-oauth/core"
 * import { DateTime, Effect, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.none(),
 *   expiresAt: DateTime.add(now, { hours: 1 }),
 *   refreshExpiresAt: Option.none(),
 *   issuedAt: now,
 *   scopes: []
 * })
 * Effect.runSync(TokenValidator.acceptAll.refresh(tokens, Option.none()))
 * ```
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
 * @example
 * ```ts
 * import { TokenValidator } from "@effect-oauth/core"
 * import { Effect } from "effect"
 *
 * // A `Context.Reference`: without a layer, `acceptAll` is used.
 * const validator = Effect.runSync(TokenValidator.TokenValidator)
 * assert.strictEqual(validator, TokenValidator.acceptAll)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class TokenValidator extends Context.Reference<TokenValidator>()("@effect-oauth/core/TokenValidator", {
  defaultValue: (): Service => acceptAll
}) {}
