/**
 * The authorization request URL (RFC 6749 §4.1.1, RFC 7636 §4.3, OpenID Connect Core §3.1.2.1): the
 * endpoint's own query is kept, extra parameters never override a protocol parameter, and no parameter
 * appears twice (SPEC S3, S4, S5).
 */
import * as Option from "effect/Option"
import type * as OAuthConfig from "../OAuthConfig.js"

/** Parameters this library sets itself: extra parameters of these names are dropped. */
const protocolParams = new Set([
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
  "nonce"
])

export interface Input {
  readonly redirectUri: string
  readonly scopes: ReadonlyArray<string>
  readonly state: string
  readonly nonce: Option.Option<string>
  /** The S256 challenge of the verifier, when PKCE is on. */
  readonly challenge: Option.Option<string>
  readonly maxAge: number | undefined
  readonly params: Readonly<Record<string, string>> | undefined
}

/** The URL, and the `max_age` it carries (from `maxAge` or the configured parameters) when it is valid. */
export const make = (
  config: OAuthConfig.Resolved,
  input: Input
): { readonly url: URL; readonly maxAge: Option.Option<number> } => {
  const url = new URL(config.authorizationEndpoint)
  for (const [name, value] of Object.entries({ ...config.authorizationParams, ...input.params })) {
    if (!protocolParams.has(name)) url.searchParams.set(name, value)
  }
  url.searchParams.set("response_type", "code")
  url.searchParams.set("client_id", config.clientId)
  url.searchParams.set("redirect_uri", input.redirectUri)
  if (input.scopes.length > 0) url.searchParams.set("scope", input.scopes.join(" "))
  else url.searchParams.delete("scope")
  url.searchParams.set("state", input.state)
  if (Option.isSome(input.nonce)) url.searchParams.set("nonce", input.nonce.value)
  if (input.maxAge !== undefined && Number.isSafeInteger(input.maxAge) && input.maxAge >= 0) {
    url.searchParams.set("max_age", String(input.maxAge))
  }
  const maxAgeParam = url.searchParams.get("max_age")
  const maxAge = maxAgeParam !== null && /^[0-9]{1,10}$/.test(maxAgeParam)
    ? Option.some(Number(maxAgeParam))
    : Option.none()
  if (Option.isSome(input.challenge)) {
    url.searchParams.set("code_challenge", input.challenge.value)
    url.searchParams.set("code_challenge_method", "S256")
  } else {
    url.searchParams.delete("code_challenge")
    url.searchParams.delete("code_challenge_method")
  }
  return { url, maxAge }
}
