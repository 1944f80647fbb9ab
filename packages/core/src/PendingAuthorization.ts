/**
 * What an application keeps between sending the user to the authorization server and receiving the
 * callback: the `state`, the PKCE verifier, the exact redirect URI, the issuer and the time window
 * (SPEC S9). Its encoded side is plain JSON, so it can be kept in a server-side store or an
 * encrypted cookie.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
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
  expiresAt: Schema.DateTimeUtc,
  /**
   * The OpenID Connect `nonce` sent when `openid` was requested; the ID Token must carry it (OpenID
   * Connect Core §3.1.2.1, §3.1.3.7).
   */
  nonce: Schema.optionalWith(Secret, { as: "Option" }).pipe(Schema.withConstructorDefault(() => Option.none())),
  /** The `max_age` sent, in seconds: the ID Token must then carry a recent enough `auth_time`. */
  maxAge: Schema.optionalWith(Schema.NonNegativeInt, { as: "Option" }).pipe(
    Schema.withConstructorDefault(() => Option.none())
  )
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
