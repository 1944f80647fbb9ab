/**
 * The messages of the errors in `OAuthError`: each says what happened and what to do, and none carries a
 * secret; server-chosen text goes through `Text.sanitize` (SPEC S34).
 */
import type * as OAuthError from "../OAuthError.js"
import * as Text from "./text.js"

export const authorizationDeniedMessage = (error: OAuthError.AuthorizationDenied): string => {
  const detail = error.description === undefined ? "" : `: ${Text.sanitize(error.description)}`
  return error.error === "access_denied"
    ? `The user did not grant access (access_denied${detail}). Ask them to sign in again if they want to.`
    : `The authorization server refused the request (${Text.sanitize(error.error)}${detail}).`
}

export const stateMismatchMessage = (error: OAuthError.StateMismatch): string => {
  switch (error.reason) {
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

export const issuerMismatchMessage = (error: OAuthError.IssuerMismatch): string =>
  error.received === undefined
    ? `The authorization response has no iss parameter but ${error.expected} is required to send one.`
    : `The authorization response comes from issuer ${error.received}, not from the configured ${error.expected}.`

export const invalidCallbackMessage = (error: OAuthError.InvalidCallback): string =>
  `The authorization callback is invalid: ${error.reason}.`

export const errorResponseMessage = (error: OAuthError.ErrorResponse): string => {
  const detail = error.description === undefined ? "" : `: ${Text.sanitize(error.description)}`
  return `The authorization server answered ${Text.sanitize(error.error)} (HTTP ${error.status})${detail}.`
}

export const invalidTokenResponseMessage = (error: OAuthError.InvalidTokenResponse): string =>
  `The token endpoint's response is not a valid token response (${error.issues.join("; ")}).`

export const httpErrorMessage = (error: OAuthError.HttpError): string => {
  const where = `the ${error.endpoint} endpoint`
  const detail = error.detail === undefined ? "" : ` (${error.detail})`
  switch (error.reason) {
    case "Transport":
      return `The request to ${where} failed before an answer arrived${detail}.`
    case "Timeout":
      return `The request to ${where} timed out${detail}.`
    case "Status":
      return `${where} answered with unexpected HTTP status ${error.status ?? "?"}${detail}.`
    case "Body":
      return `${where} answered with a body that is not a JSON object${detail}.`
    case "TooLarge":
      return `${where} answered with a body larger than allowed${detail}.`
  }
}

export const reauthorizationRequiredMessage = (error: OAuthError.ReauthorizationRequired): string => {
  const who = error.key === undefined ? "" : ` for ${Text.quote(error.key)}`
  switch (error.reason) {
    case "no-refresh-token":
      return `The access token expired and there is no refresh token${who}; sign in again.`
    case "refresh-token-expired":
      return `The refresh token has passed its lifetime${who}; sign in again.`
    case "refresh-token-rejected":
      return `The authorization server rejected the refresh token${who} (invalid_grant); sign in again.`
    case "no-tokens":
      return `There are no stored tokens${who}; sign in first.`
    case "refresh-outcome-unknown":
      return `The answer to a refresh${who} was lost, so the refresh token may have been rotated and is never sent again; sign in again.`
  }
}

export const refreshOutcomeUnknownMessage = (error: OAuthError.RefreshOutcomeUnknown): string =>
  `A refresh request was sent but its answer was lost (${error.reason}); the refresh token may have been rotated, so it was not retried.`

export const tokenStoreErrorMessage = (error: OAuthError.TokenStoreError): string => {
  const key = error.key === undefined ? "" : ` for key ${Text.quote(error.key)}`
  const detail = error.detail === undefined ? "" : ` (${error.detail})`
  switch (error.reason) {
    case "Unavailable":
      return `The token store failed to ${error.operation}${key}${detail}.`
    case "Corrupt":
      return `The stored record${key} is corrupt and was left untouched${detail}; remove it or sign in again.`
    case "LockLost":
      return `The token store lock${key} was lost before the work under it finished${detail}.`
  }
}

export const versionConflictMessage = (error: OAuthError.VersionConflict): string => {
  return `The record for key ${Text.quote(error.key)} is at version ${error.actual ?? "none"}, not ${
    error.expected ?? "none"
  }: another writer came first.`
}

export const invalidConfigMessage = (error: OAuthError.InvalidConfig): string =>
  `Invalid OAuth configuration: ${error.field} ${error.reason}.`

export const discoveryErrorMessage = (error: OAuthError.DiscoveryError): string => {
  const issuer = Text.quote(error.issuer, Text.maxTextLength)
  const at = error.url === undefined ? "" : ` at ${Text.quote(error.url, Text.maxTextLength)}`
  const detail = error.detail === undefined ? "" : ` (${Text.sanitize(error.detail)})`
  switch (error.reason) {
    case "InvalidIssuer":
      return `The issuer ${issuer} cannot be discovered${detail}: an issuer is an https URL (http only on loopback hosts) without query or fragment.`
    case "Transport":
      return `Fetching the metadata of issuer ${issuer}${at} failed before an answer arrived${detail}.`
    case "Timeout":
      return `Fetching the metadata of issuer ${issuer}${at} timed out.`
    case "NotFound":
      return `Issuer ${issuer} publishes no authorization server metadata${detail}; configure its endpoints by hand.`
    case "Status":
      return `The metadata request for issuer ${issuer}${at} was answered with HTTP status ${error.status ?? "?"}.`
    case "Body":
      return `The metadata of issuer ${issuer}${at} is not a JSON object${detail}.`
    case "TooLarge":
      return `The metadata of issuer ${issuer}${at} is larger than allowed${detail}.`
    case "InvalidMetadata":
      return `The metadata of issuer ${issuer}${at} is invalid${detail}.`
    case "IssuerMismatch":
      return `The metadata${at} names another issuer${detail} than the ${issuer} asked for, so it is rejected (RFC 8414 §3.3).`
    case "InsecureEndpoint":
      return `The metadata of issuer ${issuer}${at} lists an endpoint that cannot be used${detail}.`
    case "UnsupportedAuthMethod":
      return `Issuer ${issuer} supports neither client_secret_basic nor client_secret_post at its token endpoint${detail}; set clientAuthMethod if it does.`
  }
}

export const pendingAuthorizationsErrorMessage = (error: OAuthError.PendingAuthorizationsError): string => {
  const detail = error.detail === undefined ? "" : ` (${Text.sanitize(error.detail)})`
  return error.reason === "Corrupt"
    ? `A stored pending authorization is corrupt${detail}; it was consumed. Start the sign-in again.`
    : `The pending authorization store failed to ${error.operation}${detail}.`
}

export const invalidIdTokenMessage = (error: OAuthError.InvalidIdToken): string => {
  const what = (() => {
    switch (error.check) {
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
        return "the id_token's iat is in the future"
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
  const after = error.during === "exchange" ? "sign in again" : "the refreshed tokens were not used"
  return `OpenID Connect ID Token check "${error.check}" failed: ${what}; ${after}.`
}
