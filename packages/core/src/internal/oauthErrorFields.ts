/**
 * The fields of the errors in `OAuthError`, one schema struct each: what a `new` takes and what the
 * error's schema encodes and decodes.
 */
import * as Schema from "effect/Schema"

/** The fields of `AuthorizationDenied`. */
export const authorizationDenied = {
  error: Schema.String,
  description: Schema.optional(Schema.String),
  uri: Schema.optional(Schema.String)
}

/** The fields of `StateMismatch`. */
export const stateMismatch = { reason: Schema.Literal("missing", "mismatch", "reused", "expired") }

/** The fields of `IssuerMismatch`. */
export const issuerMismatch = {
  expected: Schema.String,
  received: Schema.optional(Schema.String)
}

/** The fields of `InvalidCallback`. */
export const invalidCallback = { reason: Schema.String }

/** The fields of `ErrorResponse`. */
export const errorResponse = {
  error: Schema.String,
  description: Schema.optional(Schema.String),
  uri: Schema.optional(Schema.String),
  status: Schema.Number
}

/** The fields of `InvalidTokenResponse`. */
export const invalidTokenResponse = { issues: Schema.Array(Schema.String) }

/** The fields of `HttpError`. */
export const httpError = {
  endpoint: Schema.Literal("token", "revocation", "discovery", "api", "userinfo", "jwks"),
  reason: Schema.Literal("Transport", "Timeout", "Status", "Body", "TooLarge"),
  status: Schema.optional(Schema.Number),
  detail: Schema.optional(Schema.String)
}

/** The fields of `ReauthorizationRequired`. */
export const reauthorizationRequired = {
  reason: Schema.Literal(
    "no-refresh-token",
    "refresh-token-expired",
    "refresh-token-rejected",
    "no-tokens",
    "refresh-outcome-unknown"
  ),
  key: Schema.optional(Schema.String)
}

/** The fields of `RefreshOutcomeUnknown`. */
export const refreshOutcomeUnknown = {
  /** `Defect`: the request was sent and then the client failed unexpectedly before it had the tokens. */
  reason: Schema.Literal("Transport", "Timeout", "Defect")
}

/** The fields of `TokenStoreError`. */
export const tokenStoreError = {
  operation: Schema.Literal("get", "set", "remove", "lock"),
  reason: Schema.Literal("Unavailable", "Corrupt", "LockLost"),
  key: Schema.optional(Schema.String),
  detail: Schema.optional(Schema.String)
}

/** The fields of `VersionConflict`. */
export const versionConflict = {
  key: Schema.String,
  expected: Schema.NullOr(Schema.Number),
  actual: Schema.NullOr(Schema.Number)
}

/** The fields of `InvalidConfig`. */
export const invalidConfig = { field: Schema.String, reason: Schema.String }

/** The fields of `DiscoveryError`. */
export const discoveryError = {
  issuer: Schema.String,
  reason: Schema.Literal(
    "InvalidIssuer",
    "Transport",
    "Timeout",
    "NotFound",
    "Status",
    "Body",
    "TooLarge",
    "InvalidMetadata",
    "IssuerMismatch",
    "InsecureEndpoint",
    "UnsupportedAuthMethod"
  ),
  url: Schema.optional(Schema.String),
  status: Schema.optional(Schema.Number),
  detail: Schema.optional(Schema.String)
}

/** The fields of `PendingAuthorizationsError`. */
export const pendingAuthorizationsError = {
  operation: Schema.Literal("put", "take", "cleanup"),
  reason: Schema.Literal("Unavailable", "Corrupt"),
  detail: Schema.optional(Schema.String)
}

/** The fields of `InvalidIdToken`. */
export const invalidIdToken = {
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
