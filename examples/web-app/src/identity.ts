/**
 * Who signed in, when the provider is an OpenID provider: with `openid` among the scopes, the client
 * validates every ID Token (`@effect-oauth/oidc`), and the dashboard shows the validated claims.
 */
import { OAuthClient, OAuthConfig, type TokenSet } from "@effect-oauth/core"
import { IdTokenClaims, IdTokens } from "@effect-oauth/oidc"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as FakeAuthorizationServerHttp from "@effect-oauth/testing/FakeAuthorizationServerHttp"
import * as FakeOpenIdProvider from "@effect-oauth/testing/FakeOpenIdProvider"
import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Http from "node:http"
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

/** The scopes the mock asks for as an OpenID provider: Credal's, `openid` and `profile`. */
export const openIdScopes: ReadonlyArray<string> = ["api:agent:message:*", "openid", "profile"]

/**
 * The embedded mock as an OpenID provider too, over HTTP on 127.0.0.1: the fake server's consent page,
 * token endpoint and API, plus ID Tokens signed with keys it publishes, userinfo and OpenID discovery.
 */
export const layerOpenIdMock = (options: {
  readonly port: number
  readonly server: Partial<FakeAuthorizationServer.Options>
}): Layer.Layer<FakeAuthorizationServer.FakeAuthorizationServer | HttpServer.HttpServer, HttpServerError.ServeError> =>
  HttpServer.serve(FakeAuthorizationServerHttp.httpApp).pipe(
    Layer.provideMerge(FakeOpenIdProvider.layerServer),
    Layer.provideMerge(
      Layer.effect(
        FakeOpenIdProvider.FakeOpenIdProvider,
        Effect.gen(function*() {
          const issuer = yield* NodeFakeAuthorizationServer.url
          const server = yield* FakeAuthorizationServer.make({ ...options.server, issuer, scopes: openIdScopes })
          return yield* FakeOpenIdProvider.make(server, {
            claims: (user) => ({ name: user, email: `${user}@example.test` })
          })
        })
      )
    ),
    Layer.provideMerge(NodeHttpServer.layerServer(() => Http.createServer(), { host: "127.0.0.1", port: options.port }))
  )
