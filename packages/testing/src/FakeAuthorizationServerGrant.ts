/**
 * What the fake authorization server grants: the consent it would ask for (`AuthorizationPrompt`), the
 * grants (token families) it holds (`Grant`), and the tokens `issueGrant` hands out without a sign-in
 * (`IssuedGrant`). Read them with `FakeAuthorizationServer`'s `prompt`, `grants` and `issueGrant`.
 *
 * @since 0.1.0
 */

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * A grant (token family): every token issued from one authorization code.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerGrant } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   yield* server.issueGrant({ user: "ann" })
 *   const grants: ReadonlyArray<FakeAuthorizationServerGrant.Grant> = yield* server.grants
 *   return grants.map((grant) => grant.user)
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.deepStrictEqual(await Effect.runPromise(program), ["ann"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Grant {
  readonly id: string
  readonly clientId: string
  readonly user: string
  readonly scope: ReadonlyArray<string>
  readonly createdAt: number
  readonly revoked: boolean
  /** The refresh token that is currently valid for a refresh (if not revoked or expired). */
  readonly refreshToken: string | undefined
  /** Every access token issued, oldest first. */
  readonly accessTokens: ReadonlyArray<string>
  /** Every refresh token issued, oldest first. */
  readonly refreshTokens: ReadonlyArray<string>
}

/**
 * Tokens issued directly by `issueGrant`.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerGrant } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // Tokens to seed a store with, without a sign-in.
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const issued: FakeAuthorizationServerGrant.IssuedGrant = yield* server.issueGrant()
 *   return yield* server.isAccessTokenValid(issued.accessToken)
 * }).pipe(Effect.provide(FakeAuthorizationServer.layer()))
 * assert.strictEqual(await Effect.runPromise(program), true)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface IssuedGrant {
  readonly grantId: string
  readonly accessToken: string
  readonly refreshToken: string
  readonly expiresIn: number
  readonly scope: ReadonlyArray<string>
}

/**
 * What the authorization endpoint does with a request before the user decides (see `prompt`): show the
 * consent screen for a valid request, or send the user back at once with an error (RFC 6749 §4.1.2.1).
 *
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { FakeAuthorizationServer, FakeAuthorizationServerGrant, OAuthTest } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // What the consent screen would ask for.
 * const program = Effect.gen(function*() {
 *   const { url } = yield* Effect.flatMap(OAuthClient.OAuthClient, (oauth) => oauth.authorize())
 *   const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
 *   const prompt: FakeAuthorizationServerGrant.AuthorizationPrompt = yield* server.prompt(url)
 *   return prompt._tag
 * }).pipe(Effect.provide(OAuthTest.layer()))
 * assert.strictEqual(await Effect.runPromise(program), "Consent")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type AuthorizationPrompt =
  | {
    readonly _tag: "Consent"
    readonly clientId: string
    readonly redirectUri: string
    /** The scope the user is asked to grant (every supported scope when the request names none). */
    readonly scope: ReadonlyArray<string>
    readonly state: string | undefined
  }
  | {
    readonly _tag: "Redirect"
    /** The callback URL with `error`, `error_description`, `state` and `iss`. */
    readonly url: URL
  }
