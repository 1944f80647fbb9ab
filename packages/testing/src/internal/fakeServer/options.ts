/**
 * The defaults of a fake server's configuration (Credal API v1-shaped), and its URLs and metadata document.
 *
 * @internal
 */
import * as Duration from "effect/Duration"
import type { Client, Options } from "../../FakeAuthorizationServer.js"
import type { Endpoints } from "../../FakeAuthorizationServerMetadata.js"

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

/** The default client of `defaultOptions`. */
export const defaultClient: Client = {
  clientId: "test-client",
  clientSecret: "test-secret",
  redirectUris: ["http://127.0.0.1:3000/callback"],
  authMethods: ["client_secret_basic", "client_secret_post"]
}

/** Credal API v1-shaped defaults. */
export const defaultOptions: Options = {
  issuer: "https://app.credal.ai",
  authorizationPath: "/api/oauth/authorize",
  tokenPath: "/api/oauth/token",
  revocationPath: "/api/oauth/revoke",
  apiBasePath: "/api/v1",
  clients: [defaultClient],
  codeLifetime: Duration.minutes(10),
  accessTokenLifetime: Duration.hours(1),
  refreshTokenLifetime: Duration.days(30),
  rotateRefreshTokens: true,
  reuseRevokesFamily: true,
  refreshGraceWindow: Duration.zero,
  requirePkce: false,
  scopes: ["api:agent:message:*"],
  includeScopeInResponse: false,
  includeIssInCallback: true,
  tokenBytes: undefined,
  tokenResponseExtras: {},
  defaultUser: "test-user",
  realm: "fake-authorization-server"
}
