/**
 * The URLs and the metadata document of a fake server's configuration.
 *
 * @internal
 */
import type { Endpoints, Options } from "../../FakeAuthorizationServer.js"

export const endpoints = (options: Options): Endpoints => {
  const base = options.issuer.replace(/\/+$/, "")
  const issuer = URL.canParse(options.issuer) ? new URL(options.issuer) : undefined
  const origin = issuer === undefined ? base : issuer.origin
  const path = issuer === undefined ? "" : issuer.pathname.replace(/\/+$/, "")
  return {
    issuer: options.issuer,
    authorization: base + options.authorizationPath,
    token: base + options.tokenPath,
    revocation: base + options.revocationPath,
    apiBase: base + options.apiBasePath,
    oauthMetadata: `${origin}/.well-known/oauth-authorization-server${path}`,
    openIdConfiguration: `${origin}${path}/.well-known/openid-configuration`
  }
}

export const metadataDocument = (options: Options): Readonly<Record<string, unknown>> => {
  const urls = endpoints(options)
  const methods = (["client_secret_basic", "client_secret_post"] as const).filter((method) =>
    options.clients.some((client) =>
      (client.authMethods ?? ["client_secret_basic", "client_secret_post"]).includes(method)
    )
  )
  return {
    issuer: options.metadataIssuer ?? options.issuer,
    authorization_endpoint: urls.authorization,
    token_endpoint: urls.token,
    revocation_endpoint: urls.revocation,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: ["authorization_code", "refresh_token"],
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: methods,
    revocation_endpoint_auth_methods_supported: methods,
    scopes_supported: options.scopes,
    authorization_response_iss_parameter_supported: options.includeIssInCallback
  }
}
