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

/** A caller-chosen key in a message, in bounded form: at most 100 characters of it, then its length. */
const quoteKey = (key: string): string =>
  key.length <= 100 ? JSON.stringify(key) : `${JSON.stringify(key.slice(0, 100))}… (${key.length} characters)`

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
    const key = this.key === undefined ? "" : ` for key ${quoteKey(this.key)}`
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
    return `The record for key ${quoteKey(this.key)} is at version ${this.actual ?? "none"}, not ${
      this.expected ?? "none"
    }: another writer came first.`
  }
}
