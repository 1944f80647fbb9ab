/**
 * The error of the fake authorization endpoint, re-exported by `FakeAuthorizationServer`.
 *
 * @internal
 */
import * as Schema from "effect/Schema"

/**
 * An authorization request the server refuses to redirect back for (RFC 6749 §4.1.2.1): unknown or
 * missing `client_id`, unregistered `redirect_uri`, a repeated `client_id` / `redirect_uri`, a URL that is
 * not the authorization endpoint, or an unparsable URL.
 *
 * @since 0.1.0
 * @category errors
 */
export class FakeAuthorizationError extends Schema.TaggedError<FakeAuthorizationError>(
  "@effect-oauth/testing/FakeAuthorizationError"
)("FakeAuthorizationError", {
  reason: Schema.Literal("InvalidUrl", "WrongEndpoint", "InvalidClient", "InvalidRedirectUri"),
  description: Schema.String
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The fake authorization server refused the authorization request without redirecting (${this.reason}): ${this.description}. Check the client_id, redirect_uri and endpoint of the authorization URL.`
  }
}
