/**
 * The typed errors of the OAuth flow. Every message explains what happened and what to do, and none
 * carries a secret: no token, code, verifier, state or client secret ever reaches a message.
 *
 * @since 0.1.0
 */
import type * as ParseResult from "effect/ParseResult"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import * as internal from "./internal/oauthError.js"
import * as fields from "./internal/oauthErrorFields.js"
import * as Text from "./internal/text.js"

/**
 * Marks every error of this library, so that `isOAuthError` can tell them from others: each error class
 * carries it as its `[TypeId]` property.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.StateMismatch({ reason: "missing" })
 * assert.ok(OAuthError.TypeId in error)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const TypeId: unique symbol = Symbol.for("@effect-oauth/core/OAuthError")

/**
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const id: OAuthError.TypeId = OAuthError.TypeId
 * assert.strictEqual(id, Symbol.for("@effect-oauth/core/OAuthError"))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type TypeId = typeof TypeId

/**
 * The user or the authorization server refused the authorization request (RFC 6749 §4.1.2.1):
 * `access_denied`, `invalid_scope`, `server_error`, `temporarily_unavailable` and any other code the
 * server sends are kept as they are.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.AuthorizationDenied({ error: "access_denied" })
 * assert.strictEqual(error._tag, "AuthorizationDenied")
 * assert.match(error.message, /did not grant access/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class AuthorizationDenied extends Schema.TaggedError<AuthorizationDenied>(
  "@effect-oauth/core/AuthorizationDenied"
)("AuthorizationDenied", fields.authorizationDenied) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.authorizationDeniedMessage(this)
  }
}

/**
 * The `state` of a callback does not belong to the pending authorization: it is missing, different,
 * already used, or the pending authorization has expired (SPEC S2, S6, S9). No token request was made.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.StateMismatch({ reason: "reused" })
 * assert.strictEqual(error._tag, "StateMismatch")
 * assert.match(error.message, /already used once/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class StateMismatch extends Schema.TaggedError<StateMismatch>("@effect-oauth/core/StateMismatch")(
  "StateMismatch",
  fields.stateMismatch
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.stateMismatchMessage(this)
  }
}

/**
 * The `iss` parameter of an authorization response (RFC 9207) names another issuer than the configured
 * one: the response may come from a mix-up attack. No token request was made.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.IssuerMismatch({ expected: "https://auth.example.com", received: "https://other.example.com" })
 * assert.strictEqual(error._tag, "IssuerMismatch")
 * assert.match(error.message, /not from the configured https:\/\/auth\.example\.com/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class IssuerMismatch extends Schema.TaggedError<IssuerMismatch>("@effect-oauth/core/IssuerMismatch")(
  "IssuerMismatch",
  fields.issuerMismatch
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.issuerMismatchMessage(this)
  }
}

/**
 * A callback that cannot be read: not a URL, a repeated parameter, no `code`, an oversized value.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.InvalidCallback({ reason: "no code parameter" })
 * assert.strictEqual(error._tag, "InvalidCallback")
 * assert.match(error.message, /no code parameter/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidCallback extends Schema.TaggedError<InvalidCallback>("@effect-oauth/core/InvalidCallback")(
  "InvalidCallback",
  fields.invalidCallback
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.invalidCallbackMessage(this)
  }
}

/**
 * An RFC 6749 §5.2 error response from the token or revocation endpoint, such as `invalid_grant` or
 * `invalid_client`, with the HTTP status it came with.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.ErrorResponse({ error: "invalid_grant", status: 400 })
 * assert.strictEqual(error._tag, "ErrorResponse")
 * assert.match(error.message, /invalid_grant \(HTTP 400\)/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ErrorResponse extends Schema.TaggedError<ErrorResponse>("@effect-oauth/core/ErrorResponse")(
  "ErrorResponse",
  fields.errorResponse
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.errorResponseMessage(this)
  }
}

/**
 * A token endpoint answered HTTP 200 with JSON that is not a valid token response (SPEC S13–S15).
 * `issues` names the offending fields, never their values.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.InvalidTokenResponse({ issues: ["access_token is missing"] })
 * assert.strictEqual(error._tag, "InvalidTokenResponse")
 * assert.match(error.message, /access_token is missing/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTokenResponse extends Schema.TaggedError<InvalidTokenResponse>(
  "@effect-oauth/core/InvalidTokenResponse"
)("InvalidTokenResponse", fields.invalidTokenResponse) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.invalidTokenResponseMessage(this)
  }
}

/**
 * The exchange with an endpoint failed below the OAuth protocol: the connection failed or timed out,
 * the status was unexpected (5xx), or the body was not JSON, empty, HTML or too large (SPEC S16).
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.HttpError({ endpoint: "token", reason: "Timeout" })
 * assert.strictEqual(error._tag, "HttpError")
 * assert.match(error.message, /token endpoint timed out/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class HttpError extends Schema.TaggedError<HttpError>("@effect-oauth/core/HttpError")(
  "HttpError",
  fields.httpError
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.httpErrorMessage(this)
  }
}

/**
 * The stored grant cannot be used any more: the refresh token expired, was revoked or rejected, or
 * there is none. The user has to sign in again (SPEC S21, S24).
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.ReauthorizationRequired({ reason: "no-tokens", key: "user-1" })
 * assert.strictEqual(error._tag, "ReauthorizationRequired")
 * assert.match(error.message, /no stored tokens for "user-1"/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class ReauthorizationRequired extends Schema.TaggedError<ReauthorizationRequired>(
  "@effect-oauth/core/ReauthorizationRequired"
)("ReauthorizationRequired", fields.reauthorizationRequired) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.reauthorizationRequiredMessage(this)
  }
}

/**
 * A refresh request was sent but its answer was lost. The server may have rotated the refresh token,
 * so it is not retried blindly (SPEC S22).
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.RefreshOutcomeUnknown({ reason: "Timeout" })
 * assert.strictEqual(error._tag, "RefreshOutcomeUnknown")
 * assert.match(error.message, /answer was lost \(Timeout\)/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class RefreshOutcomeUnknown extends Schema.TaggedError<RefreshOutcomeUnknown>(
  "@effect-oauth/core/RefreshOutcomeUnknown"
)("RefreshOutcomeUnknown", fields.refreshOutcomeUnknown) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.refreshOutcomeUnknownMessage(this)
  }
}

/**
 * A token store could not do what was asked: it is unreachable, a write failed, or a stored record
 * is corrupt (the record is kept as it is, never overwritten silently).
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.TokenStoreError({ operation: "get", reason: "Unavailable", key: "user-1" })
 * assert.strictEqual(error._tag, "TokenStoreError")
 * assert.match(error.message, /failed to get for key "user-1"/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class TokenStoreError extends Schema.TaggedError<TokenStoreError>("@effect-oauth/core/TokenStoreError")(
  "TokenStoreError",
  fields.tokenStoreError
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.tokenStoreErrorMessage(this)
  }
}

/**
 * A compare-and-set write found another version than expected: someone else wrote the key first.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.VersionConflict({ key: "user-1", expected: 1, actual: 2 })
 * assert.strictEqual(error._tag, "VersionConflict")
 * assert.match(error.message, /at version 2, not 1/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class VersionConflict extends Schema.TaggedError<VersionConflict>("@effect-oauth/core/VersionConflict")(
  "VersionConflict",
  fields.versionConflict
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.versionConflictMessage(this)
  }
}

/**
 * A configuration that cannot work, found when the layer is built.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.InvalidConfig({ field: "redirectUri", reason: "must be an absolute URL" })
 * assert.strictEqual(error._tag, "InvalidConfig")
 * assert.match(error.message, /redirectUri must be an absolute URL/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidConfig extends Schema.TaggedError<InvalidConfig>("@effect-oauth/core/InvalidConfig")(
  "InvalidConfig",
  fields.invalidConfig
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.invalidConfigMessage(this)
  }
}

/**
 * Authorization server metadata could not be used (SPEC S31): the issuer is not a valid issuer
 * identifier, the well-known documents could not be fetched or read, the document is malformed, names
 * another issuer, lists an endpoint that is not https (SPEC S27), or supports no client authentication
 * method this library offers. The message names the issuer and the URL tried, never the body.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.DiscoveryError({ issuer: "https://auth.example.com", reason: "NotFound" })
 * assert.strictEqual(error._tag, "DiscoveryError")
 * assert.match(error.message, /publishes no authorization server metadata/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class DiscoveryError extends Schema.TaggedError<DiscoveryError>("@effect-oauth/core/DiscoveryError")(
  "DiscoveryError",
  fields.discoveryError
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.discoveryErrorMessage(this)
  }
}

/**
 * A pending authorization store could not do what was asked: it is unreachable, or a stored pending
 * authorization is corrupt (it is consumed all the same; its content is never shown).
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.PendingAuthorizationsError({ operation: "put", reason: "Unavailable" })
 * assert.strictEqual(error._tag, "PendingAuthorizationsError")
 * assert.match(error.message, /store failed to put/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class PendingAuthorizationsError extends Schema.TaggedError<PendingAuthorizationsError>(
  "@effect-oauth/core/PendingAuthorizationsError"
)("PendingAuthorizationsError", fields.pendingAuthorizationsError) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.pendingAuthorizationsErrorMessage(this)
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
 * | `issued-at` | `iat` is in the future (allowing the clock skew) |
 * | `nonce` | `nonce` is not the one sent in the authorization request |
 * | `at_hash` | `at_hash` does not match the access token |
 * | `auth_time` | `max_age` was asked and `auth_time` is missing or too old |
 * | `subject` | after a refresh, `sub` (or `iss`, `aud`) is not the signed-in user's (§12.2) |
 *
 * The message never carries the token or a claim value.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const error = new OAuthError.InvalidIdToken({ check: "nonce", during: "exchange" })
 * assert.strictEqual(error._tag, "InvalidIdToken")
 * assert.match(error.message, /nonce is not the one of this sign-in/)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidIdToken extends Schema.TaggedError<InvalidIdToken>("@effect-oauth/core/InvalidIdToken")(
  "InvalidIdToken",
  fields.invalidIdToken
) {
  /** @ignore The marker of `isOAuthError`, documented once at `TypeId`. */
  readonly [TypeId]: TypeId = TypeId
  override get message(): string {
    return internal.invalidIdTokenMessage(this)
  }
}

/**
 * Every error of this library.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const advice = (error: OAuthError.OAuthError): string => {
 *   switch (error._tag) {
 *     case "ReauthorizationRequired":
 *     case "StateMismatch":
 *       return "sign in again"
 *     default:
 *       return error.message
 *   }
 * }
 * assert.strictEqual(advice(new OAuthError.StateMismatch({ reason: "expired" })), "sign in again")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type OAuthError =
  | AuthorizationDenied
  | StateMismatch
  | IssuerMismatch
  | InvalidCallback
  | ErrorResponse
  | InvalidTokenResponse
  | HttpError
  | ReauthorizationRequired
  | RefreshOutcomeUnknown
  | TokenStoreError
  | VersionConflict
  | InvalidConfig
  | DiscoveryError
  | PendingAuthorizationsError
  | InvalidIdToken

/**
 * True for every error of this library (compare `isPlatformError` in `@effect/platform`).
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthError.isOAuthError(new OAuthError.HttpError({ endpoint: "token", reason: "Timeout" })), true)
 * assert.strictEqual(OAuthError.isOAuthError(new Error("boom")), false)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const isOAuthError = (u: unknown): u is OAuthError => Predicate.hasProperty(u, TypeId)

/**
 * A user-supplied value (a store key, an issuer, a URL) in bounded form for an error message:
 * JSON-quoted and cut to `max` characters (default 64), with its length when it was cut.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthError.quote("user-1"), "\"user-1\"")
 * assert.strictEqual(OAuthError.quote("a".repeat(100), 3), "\"aaa…\" (100 characters)")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const quote: (value: string, max?: number) => string = Text.quote

/**
 * A server-chosen text made safe for an error message, a log line or a span (SPEC S34): control
 * characters stripped, every secret in `secrets` (and its form-, URL- and Base64-encoded forms)
 * replaced, cut to 512 characters. Not a string: `undefined`.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 *
 * const text = OAuthError.sanitize("bad code abc123\u0007 sent", ["abc123"])
 * assert.ok(text !== undefined && !text.includes("abc123") && !text.includes("\u0007"))
 * assert.strictEqual(OAuthError.sanitize(42), undefined)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const sanitize: (value: unknown, secrets?: ReadonlyArray<string>) => string | undefined = Text.sanitize

/**
 * The issues of a decode error as `"path is missing"` / `"path is invalid"` (the whole value is named
 * `root`): paths only, never values, at most 10 issues, in bounded time and stack for input of any
 * size or depth (SPEC S28, S34). The one formatter of decode errors in this library and its stores.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 * import { Either, Schema } from "effect"
 *
 * const result = Schema.decodeUnknownEither(Schema.Struct({ code: Schema.String }))({ code: 42 })
 * if (Either.isLeft(result)) {
 *   assert.deepStrictEqual(OAuthError.parseIssues(result.left, "body"), ["code is invalid"])
 * }
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const parseIssues: (error: ParseResult.ParseError, root: string) => ReadonlyArray<string> = Text.parseIssues

/**
 * `parseIssues` joined into one detail text.
 *
 * @example
 * ```ts
 * import { OAuthError } from "@effect-oauth/core"
 * import { Either, Schema } from "effect"
 *
 * const Query = Schema.Struct({ code: Schema.String, state: Schema.String })
 * const result = Schema.decodeUnknownEither(Query)({}, { errors: "all" })
 * if (Either.isLeft(result)) {
 *   assert.strictEqual(OAuthError.describeParseError(result.left, "query"), "code is missing; state is missing")
 * }
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const describeParseError = (error: ParseResult.ParseError, root: string): string =>
  Text.parseIssues(error, root).join("; ")
