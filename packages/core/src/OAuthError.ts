/**
 * The typed errors of the OAuth flow. Every message explains what happened and what to do, and none
 * carries a secret: no token, code, verifier, state or client secret ever reaches a message.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * The user or the authorization server refused the authorization request (RFC 6749 §4.1.2.1):
 * `access_denied`, `invalid_scope`, `server_error`, `temporarily_unavailable` and any other code the
 * server sends are kept as they are.
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizationDenied extends Schema.TaggedError<AuthorizationDenied>(
  "@effect-oauth/core/AuthorizationDenied"
)("AuthorizationDenied", {
  error: Schema.String,
  description: Schema.optional(Schema.String),
  uri: Schema.optional(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const detail = this.description === undefined ? "" : `: ${this.description}`
    return this.error === "access_denied"
      ? `The user did not grant access (access_denied${detail}). Ask them to sign in again if they want to.`
      : `The authorization server refused the request (${this.error}${detail}).`
  }
}

/**
 * The `state` of a callback does not belong to the pending authorization: it is missing, different,
 * already used, or the pending authorization has expired (SPEC S2, S6, S9). No token request was made.
 *
 * @since 0.1.0
 * @category errors
 */
export class StateMismatch extends Schema.TaggedError<StateMismatch>("@effect-oauth/core/StateMismatch")(
  "StateMismatch",
  { reason: Schema.Literal("missing", "mismatch", "reused", "expired") }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "missing":
        return "The callback carries no state parameter; it was not started by this application. Start the sign-in again."
      case "mismatch":
        return "The callback's state does not match the pending authorization. Start the sign-in again."
      case "reused":
        return "This callback was already used once; a state is good for one callback only. Start the sign-in again."
      case "expired":
        return "The pending authorization has expired before the callback arrived. Start the sign-in again."
    }
  }
}

/**
 * The `iss` parameter of an authorization response (RFC 9207) names another issuer than the configured
 * one: the response may come from a mix-up attack. No token request was made.
 *
 * @since 0.1.0
 * @category errors
 */
export class IssuerMismatch extends Schema.TaggedError<IssuerMismatch>("@effect-oauth/core/IssuerMismatch")(
  "IssuerMismatch",
  {
    expected: Schema.String,
    received: Schema.optional(Schema.String)
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return this.received === undefined
      ? `The authorization response has no iss parameter but ${this.expected} is required to send one.`
      : `The authorization response comes from issuer ${this.received}, not from the configured ${this.expected}.`
  }
}

/**
 * A callback that cannot be read: not a URL, a repeated parameter, no `code`, an oversized value.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCallback extends Schema.TaggedError<InvalidCallback>("@effect-oauth/core/InvalidCallback")(
  "InvalidCallback",
  { reason: Schema.String }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The authorization callback is invalid: ${this.reason}.`
  }
}

/**
 * An RFC 6749 §5.2 error response from the token or revocation endpoint, such as `invalid_grant` or
 * `invalid_client`, with the HTTP status it came with.
 *
 * @since 0.1.0
 * @category errors
 */
export class ErrorResponse extends Schema.TaggedError<ErrorResponse>("@effect-oauth/core/ErrorResponse")(
  "ErrorResponse",
  {
    error: Schema.String,
    description: Schema.optional(Schema.String),
    uri: Schema.optional(Schema.String),
    status: Schema.Number
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const detail = this.description === undefined ? "" : `: ${this.description}`
    return `The authorization server answered ${this.error} (HTTP ${this.status})${detail}.`
  }
}

/**
 * A token endpoint answered HTTP 200 with JSON that is not a valid token response (SPEC S13–S15).
 * `issues` names the offending fields, never their values.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTokenResponse extends Schema.TaggedError<InvalidTokenResponse>(
  "@effect-oauth/core/InvalidTokenResponse"
)("InvalidTokenResponse", { issues: Schema.Array(Schema.String) }) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The token endpoint's response is not a valid token response (${this.issues.join("; ")}).`
  }
}

/**
 * The exchange with an endpoint failed below the OAuth protocol: the connection failed or timed out,
 * the status was unexpected (5xx), or the body was not JSON, empty, HTML or too large (SPEC S16).
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpError extends Schema.TaggedError<HttpError>("@effect-oauth/core/HttpError")("HttpError", {
  endpoint: Schema.Literal("token", "revocation", "discovery", "api"),
  reason: Schema.Literal("Transport", "Timeout", "Status", "Body", "TooLarge"),
  status: Schema.optional(Schema.Number),
  detail: Schema.optional(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const where = `the ${this.endpoint} endpoint`
    const detail = this.detail === undefined ? "" : ` (${this.detail})`
    switch (this.reason) {
      case "Transport":
        return `The request to ${where} failed before an answer arrived${detail}.`
      case "Timeout":
        return `The request to ${where} timed out${detail}.`
      case "Status":
        return `${where} answered with unexpected HTTP status ${this.status ?? "?"}${detail}.`
      case "Body":
        return `${where} answered with a body that is not a JSON object${detail}.`
      case "TooLarge":
        return `${where} answered with a body larger than allowed${detail}.`
    }
  }
}

/**
 * The stored grant cannot be used any more: the refresh token expired, was revoked or rejected, or
 * there is none. The user has to sign in again (SPEC S21, S24).
 *
 * @since 0.1.0
 * @category errors
 */
export class ReauthorizationRequired extends Schema.TaggedError<ReauthorizationRequired>(
  "@effect-oauth/core/ReauthorizationRequired"
)("ReauthorizationRequired", {
  reason: Schema.Literal("no-refresh-token", "refresh-token-expired", "refresh-token-rejected", "no-tokens"),
  key: Schema.optional(Schema.String)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const who = this.key === undefined ? "" : ` for ${JSON.stringify(this.key)}`
    switch (this.reason) {
      case "no-refresh-token":
        return `The access token expired and there is no refresh token${who}; sign in again.`
      case "refresh-token-expired":
        return `The refresh token has passed its lifetime${who}; sign in again.`
      case "refresh-token-rejected":
        return `The authorization server rejected the refresh token${who} (invalid_grant); sign in again.`
      case "no-tokens":
        return `There are no stored tokens${who}; sign in first.`
    }
  }
}

/**
 * A refresh request was sent but its answer was lost. The server may have rotated the refresh token,
 * so it is not retried blindly (SPEC S22).
 *
 * @since 0.1.0
 * @category errors
 */
export class RefreshOutcomeUnknown extends Schema.TaggedError<RefreshOutcomeUnknown>(
  "@effect-oauth/core/RefreshOutcomeUnknown"
)("RefreshOutcomeUnknown", {
  reason: Schema.Literal("Transport", "Timeout")
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `A refresh request was sent but its answer was lost (${this.reason}); the refresh token may have been rotated, so it was not retried.`
  }
}

/**
 * A token store could not do what was asked: it is unreachable, a write failed, or a stored record
 * is corrupt (the record is kept as it is, never overwritten silently).
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@effect-oauth/core/TokenStoreError")(
  "TokenStoreError",
  {
    operation: Schema.Literal("get", "set", "remove", "lock"),
    reason: Schema.Literal("Unavailable", "Corrupt", "LockLost"),
    key: Schema.optional(Schema.String),
    detail: Schema.optional(Schema.String)
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const key = this.key === undefined ? "" : ` for key ${JSON.stringify(this.key)}`
    const detail = this.detail === undefined ? "" : ` (${this.detail})`
    switch (this.reason) {
      case "Unavailable":
        return `The token store failed to ${this.operation}${key}${detail}.`
      case "Corrupt":
        return `The stored record${key} is corrupt and was left untouched${detail}; remove it or sign in again.`
      case "LockLost":
        return `The token store lock${key} was lost before the work under it finished${detail}.`
    }
  }
}

/**
 * A compare-and-set write found another version than expected: someone else wrote the key first.
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>("@effect-oauth/core/VersionConflict")(
  "VersionConflict",
  {
    key: Schema.String,
    expected: Schema.NullOr(Schema.Number),
    actual: Schema.NullOr(Schema.Number)
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    return `The record for key ${JSON.stringify(this.key)} is at version ${this.actual ?? "none"}, not ${
      this.expected ?? "none"
    }: another writer came first.`
  }
}

/**
 * An OpenID Connect ID Token failed one check of OpenID Connect Core §3.1.3.7 (or §12.2 after a refresh),
 * so the tokens of its response are not used. `check` names the check:
 *
 * | check | what failed |
 * | --- | --- |
 * | `missing` | `openid` was requested but the response has no `id_token` |
 * | `malformed` | not a signed JWT, or its claims are not valid JSON claims |
 * | `algorithm` | the `alg` is not allowed (`none` never is; `HS*` only when configured) |
 * | `key` | no key of the provider's JWKS matches, even after fetching it again, or the JWKS could not be fetched |
 * | `signature` | the signature does not verify |
 * | `issuer` | `iss` is not the configured issuer |
 * | `audience` | `aud` does not contain the client id |
 * | `azp` | several audiences and `azp` is not the client id |
 * | `expired` | `exp` has passed (allowing the configured clock skew) |
 * | `issued-at` | `iat` is missing or in the future (allowing the clock skew) |
 * | `nonce` | `nonce` is not the one sent in the authorization request |
 * | `at_hash` | `at_hash` does not match the access token |
 * | `auth_time` | `max_age` was asked and `auth_time` is missing or too old |
 * | `subject` | after a refresh, `sub` (or `iss`, `aud`) is not the signed-in user's (§12.2) |
 *
 * The message never carries the token or a claim value.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidIdToken extends Schema.TaggedError<InvalidIdToken>("@effect-oauth/core/InvalidIdToken")(
  "InvalidIdToken",
  {
    check: Schema.Literal(
      "missing",
      "malformed",
      "algorithm",
      "key",
      "signature",
      "issuer",
      "audience",
      "azp",
      "expired",
      "issued-at",
      "nonce",
      "at_hash",
      "auth_time",
      "subject"
    ),
    /** Where the ID Token came from. */
    during: Schema.Literal("exchange", "refresh")
  }
) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    const what = (() => {
      switch (this.check) {
        case "missing":
          return "the token response has no id_token although openid was requested"
        case "malformed":
          return "the id_token is not a signed JWT with valid claims"
        case "algorithm":
          return "the id_token is signed with an algorithm that is not allowed"
        case "key":
          return "no key of the provider's JWKS matches the id_token (or the JWKS could not be fetched)"
        case "signature":
          return "the id_token's signature is invalid"
        case "issuer":
          return "the id_token's iss is not the configured issuer"
        case "audience":
          return "the id_token's aud does not contain this client's id"
        case "azp":
          return "the id_token has several audiences and its azp is not this client's id"
        case "expired":
          return "the id_token has expired"
        case "issued-at":
          return "the id_token's iat is missing or in the future"
        case "nonce":
          return "the id_token's nonce is not the one of this sign-in"
        case "at_hash":
          return "the id_token's at_hash does not match the access token"
        case "auth_time":
          return "max_age was requested and the id_token's auth_time is missing or too old"
        case "subject":
          return "the id_token of the refresh names another user, issuer or audience than the sign-in"
      }
    })()
    const after = this.during === "exchange" ? "sign in again" : "the refreshed tokens were not used"
    return `OpenID Connect ID Token check "${this.check}" failed: ${what}; ${after}.`
  }
}
