/**
 * Who signed in, when the provider is an OpenID provider: with `openid` among the scopes, the client
 * validates every ID Token (`@effect-oauth/oidc`), and the dashboard shows the validated claims.
 */
import { OAuthClient, OAuthConfig, type TokenSet } from "@effect-oauth/core"
import { IdTokenClaims, IdTokens } from "@effect-oauth/oidc"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Pages from "./pages.js"

/** The OAuth client: one that validates ID Tokens when `openid` is requested, the plain one otherwise. */
export const layerClient = (
  oauth: OAuthConfig.Options
): Layer.Layer<
  OAuthClient.OAuthClient | OAuthConfig.OAuthConfig,
  OAuthConfig.InvalidConfig | OAuthConfig.DiscoveryError,
  HttpClient.HttpClient
> =>
  oauth.scopes?.includes("openid") === true
    ? IdTokens.layerOAuthClient().pipe(Layer.provideMerge(OAuthConfig.layer(oauth)))
    : OAuthClient.layerWithConfig(oauth)

/** The identity the dashboard shows, from the validated ID Token the tokens carry. */
export const identityOf = (tokens: TokenSet.TokenSet): Option.Option<Pages.IdentityView> =>
  Option.map(IdTokenClaims.fromTokenSet(tokens), (claims) => ({
    subject: claims.sub,
    issuer: claims.iss,
    name: claims.name ?? claims.preferred_username,
    email: claims.email
  }))
