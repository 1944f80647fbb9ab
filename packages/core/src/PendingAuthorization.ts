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
 * @example
 * ```ts
 * import { PendingAuthorization } from "@effect-oauth/core"
 * import { Option, Redacted, Schema } from "effect"
 *
 * // `OAuthClient.authorize` makes these; here one is decoded from its encoded side.
 * const pending = Schema.decodeUnknownSync(PendingAuthorization.PendingAuthorization)({
 *   state: "random-state",
 *   codeVerifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read"],
 *   createdAt: "2026-01-01T12:00:00.000Z",
 *   expiresAt: "2026-01-01T12:10:00.000Z"
 * })
 * assert.strictEqual(String(pending.state), "<redacted>")
 * assert.strictEqual(Redacted.value(pending.state), "random-state")
 * assert.ok(Option.isNone(pending.issuer))
 * ```
 *
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
   * @example
   * ```ts
   * import { PendingAuthorization } from "@effect-oauth/core"
   * import { DateTime, Schema } from "effect"
   *
   * const pending = Schema.decodeUnknownSync(PendingAuthorization.PendingAuthorization)({
   *   state: "random-state",
   *   redirectUri: "https://app.example.com/oauth/callback",
   *   scopes: [],
   *   createdAt: "2026-01-01T12:00:00.000Z",
   *   expiresAt: "2026-01-01T12:10:00.000Z"
   * })
   * assert.strictEqual(pending.isExpired(DateTime.unsafeMake("2026-01-01T12:05:00.000Z")), false)
   * assert.strictEqual(pending.isExpired(DateTime.unsafeMake("2026-01-01T12:10:00.000Z")), true)
   * ```
   *
   * @since 0.1.0
   */
  isExpired(now: DateTime.Utc): boolean {
    return DateTime.toEpochMillis(now) >= DateTime.toEpochMillis(this.expiresAt)
  }
}

/**
 * The pending authorization as a JSON string.
 *
 * @example
 * ```ts
 * import { PendingAuthorization } from "@effect-oauth/core"
 * import { Option, Redacted, Schema } from "effect"
 *
 * // Plain JSON, for a server-side store or an encrypted cookie; it holds the state, so keep it secret.
 * const pending = Schema.decodeSync(PendingAuthorization.Json)(JSON.stringify({
 *   state: "random-state",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   issuer: "https://auth.example.com",
 *   scopes: ["read"],
 *   createdAt: "2026-01-01T12:00:00.000Z",
 *   expiresAt: "2026-01-01T12:10:00.000Z"
 * }))
 * const text = Schema.encodeSync(PendingAuthorization.Json)(pending)
 * const back = Schema.decodeSync(PendingAuthorization.Json)(text)
 * assert.strictEqual(Redacted.value(back.state), "random-state")
 * assert.deepStrictEqual(back.issuer, Option.some("https://auth.example.com"))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<PendingAuthorization, string> = Schema.parseJson(PendingAuthorization)
