/**
 * What an application keeps between sending the user to the authorization server and receiving the
 * callback: the `state`, the PKCE verifier, the exact redirect URI, the issuer and the time window
 * (SPEC S9). Its encoded side is plain JSON, so it can be kept in a server-side store or an
 * encrypted cookie.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"

const Secret = Schema.Redacted(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(512)))

/**
 * @since 0.1.0
 * @category models
 */
export class PendingAuthorization extends Schema.Class<PendingAuthorization>(
  "@effect-oauth/core/PendingAuthorization"
)({
  state: Secret,
  codeVerifier: Schema.optionalWith(Secret, { as: "Option" }),
  redirectUri: Schema.String,
  issuer: Schema.optionalWith(Schema.String, { as: "Option" }),
  scopes: Schema.Array(Schema.String),
  createdAt: Schema.DateTimeUtc,
  expiresAt: Schema.DateTimeUtc
}) {
  /**
   * @since 0.1.0
   */
  isExpired(now: DateTime.Utc): boolean {
    return DateTime.toEpochMillis(now) >= DateTime.toEpochMillis(this.expiresAt)
  }
}

/**
 * The pending authorization as a JSON string.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<PendingAuthorization, string> = Schema.parseJson(PendingAuthorization)
