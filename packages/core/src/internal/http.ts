import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Encoding from "effect/Encoding"
import * as Redacted from "effect/Redacted"
import type * as OAuthConfig from "../OAuthConfig.js"

/**
 * `application/x-www-form-urlencoded` encoding of one value (RFC 6749 Appendix B), as required for
 * client_secret_basic credentials before Base64 (SPEC S11).
 */
export const formEncode = (value: string): string =>
  encodeURIComponent(value)
    .replace(/[!'()*~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+")

/** A form request to an endpoint and the secrets it carries, for scrubbing what the server answers (SPEC S34). */
export interface FormRequest {
  readonly request: HttpClientRequest.HttpClientRequest
  readonly secrets: ReadonlyArray<string>
}

/** The parameters whose values are secrets (SPEC S26). */
const secretParams = new Set(["code", "code_verifier", "refresh_token", "token", "client_secret"])

/**
 * The form POSTs of one client, with its authentication (SPEC S10, S11): secrets only in the body or the
 * Authorization header, never in the URL. Built once per client: the secret is read once and the Basic
 * credentials are encoded once.
 */
export const makeFormPost = (
  config: OAuthConfig.Resolved
): (url: URL, params: Readonly<Record<string, string>>) => FormRequest => {
  const secret = Redacted.value(config.clientSecret)
  // Encoded at the first Basic request: an id or secret that cannot be form-encoded fails a request, not `make`.
  let basic: string | undefined
  const basicCredentials =
    () => (basic ??= Encoding.encodeBase64(`${formEncode(config.clientId)}:${formEncode(secret)}`))
  return (url, params) => {
    const secrets = [secret, ...Object.entries(params).filter(([name]) => secretParams.has(name)).map(([, v]) => v)]
    const request = HttpClientRequest.post(url)
    if (config.clientAuthMethod === "client_secret_post") {
      return {
        request: HttpClientRequest.bodyUrlParams(request, {
          ...params,
          client_id: config.clientId,
          client_secret: secret
        }),
        secrets
      }
    }
    const credentials = basicCredentials()
    return {
      request: request.pipe(
        HttpClientRequest.setHeader("authorization", `Basic ${credentials}`),
        HttpClientRequest.bodyUrlParams(params)
      ),
      secrets: [...secrets, credentials]
    }
  }
}
