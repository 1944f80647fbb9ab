/**
 * The errors of the OpenID Connect package that are not ID Token checks (those are
 * `OAuthError.InvalidIdToken` of `@effect-oauth/core`, so that `OAuthClient` and `AccessTokens` carry
 * them). No message carries a token or text the server chose.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The provider's JSON Web Key Set could not be fetched or used (SPEC S32: one deadline, bounded body).
 *
 * @example
 * ```ts
 * import { OidcError } from "@effect-oauth/oidc"
 *
 * const error = new OidcError.JwksError({ url: "https://op.example/jwks", reason: "Status", status: 503 })
 * assert.strictEqual(error._tag, "JwksError")
 * assert.strictEqual(error.message, "The JWKS request to https://op.example/jwks was answered with HTTP status 503.")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class JwksError extends Schema.TaggedError<JwksError>("@effect-oauth/oidc/JwksError")("JwksError", {
  url: Schema.String,
  reason: Schema.Literal("Transport", "Timeout", "Status", "Body", "TooLarge", "InvalidKeySet"),
  status: Schema.optional(Schema.Number)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "Transport":
        return `Fetching the JWKS at ${this.url} failed before an answer arrived.`
      case "Timeout":
        return `Fetching the JWKS at ${this.url} did not finish before its deadline.`
      case "Status":
        return `The JWKS request to ${this.url} was answered with HTTP status ${this.status ?? "?"}.`
      case "Body":
        return `The JWKS at ${this.url} is not a JSON object.`
      case "TooLarge":
        return `The JWKS at ${this.url} is larger than allowed.`
      case "InvalidKeySet":
        return `The document at ${this.url} is not a valid JSON Web Key Set.`
    }
  }
}

/**
 * The userinfo request failed (OpenID Connect Core §5.3): no endpoint is known, the request failed or
 * timed out (SPEC S32), the answer is not a JSON object with a `sub`, or its `sub` is not the ID
 * Token's (§5.3.4: the answer must then not be used). `no-id-token`: the tokens carry no ID Token to
 * check `sub` against.
 *
 * @example
 * ```ts
 * import { OidcError, UserInfo } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * // No userinfo endpoint, or no ID Token to check the answer against: go on without the profile.
 * const profile = (key: string) =>
 *   Effect.flatMap(UserInfo.UserInfo, (userInfo) => userInfo.userinfo(key)).pipe(
 *     Effect.catchTag("UserInfoError", (error) =>
 *       error.reason === "NoEndpoint" || error.reason === "NoIdToken" ? Effect.succeed(undefined) : Effect.fail(error))
 *   )
 * assert.strictEqual(new OidcError.UserInfoError({ reason: "SubjectMismatch" })._tag, "UserInfoError")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class UserInfoError extends Schema.TaggedError<UserInfoError>("@effect-oauth/oidc/UserInfoError")(
  "UserInfoError",
  {
    reason: Schema.Literal(
      "NoEndpoint",
      "NoIdToken",
      "Transport",
      "Timeout",
      "Status",
      "Body",
      "TooLarge",
      "InvalidClaims",
      "SubjectMismatch"
    ),
    status: Schema.optional(Schema.Number)
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "NoEndpoint":
        return "The provider has no userinfo endpoint (none was discovered or configured)."
      case "NoIdToken":
        return "The tokens carry no ID Token, so the userinfo answer cannot be checked (OpenID Connect Core §5.3.4); request the openid scope."
      case "Transport":
        return "The userinfo request failed before an answer arrived."
      case "Timeout":
        return "The userinfo request did not finish before its deadline."
      case "Status":
        return `The userinfo request was answered with HTTP status ${this.status ?? "?"}.`
      case "Body":
        return "The userinfo answer is not a JSON object."
      case "TooLarge":
        return "The userinfo answer is larger than allowed."
      case "InvalidClaims":
        return "The userinfo answer has no valid sub claim."
      case "SubjectMismatch":
        return "The userinfo answer is about another user than the ID Token (OpenID Connect Core §5.3.4), so it was not used."
    }
  }
}
