/**
 * Test layers: an OpenID-mode fake provider (no sockets), a client configured against it, and an
 * `OAuthClient` that validates ID Tokens.
 */
import { AccessTokens, OAuthClient, OAuthConfig, TokenStore } from "@effect-oauth/core"
import { IdTokens, type JwksCache } from "@effect-oauth/oidc"
import type { FakeAuthorizationServer } from "@effect-oauth/testing"
import { FakeOpenIdProvider, OAuthTest } from "@effect-oauth/testing"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

export const serverOptions: Partial<FakeAuthorizationServer.Options> = {
  issuer: "https://op.example.test",
  scopes: ["openid", "profile", "api"]
}

export interface TestOptions {
  readonly provider?: FakeOpenIdProvider.Options | undefined
  readonly client?: Partial<OAuthConfig.Options> | undefined
  readonly oidc?: IdTokens.Options | undefined
}

export type Services =
  | FakeOpenIdProvider.FakeOpenIdProvider
  | FakeAuthorizationServer.FakeAuthorizationServer
  | HttpClient.HttpClient
  | OAuthConfig.OAuthConfig
  | OAuthClient.OAuthClient
  | IdTokens.IdTokens
  | JwksCache.JwksCache

export const layer = (options: TestOptions = {}) => {
  const fake = FakeOpenIdProvider.layerWithHttpClient(serverOptions, options.provider)
  const config = OAuthConfig.layer(
    OAuthTest.clientOptions(serverOptions, { scopes: ["openid", "profile"], ...options.client })
  )
  return IdTokens.layerOAuthClient(options.oidc).pipe(Layer.provideMerge(config), Layer.provideMerge(fake))
}

/** The layer plus `AccessTokens` over a memory store. */
export const layerWithAccessTokens = (options: TestOptions = {}) =>
  AccessTokens.layer().pipe(Layer.provideMerge(TokenStore.layerMemory), Layer.provideMerge(layer(options)))

/** Authorize, approve at the provider (so that the ID Token carries the nonce), complete. */
export const signIn = (options?: {
  readonly user?: string | undefined
  readonly authorize?: OAuthClient.AuthorizeOptions | undefined
  readonly authTime?: number | undefined
}) =>
  Effect.gen(function*() {
    const client = yield* OAuthClient.OAuthClient
    const provider = yield* FakeOpenIdProvider.FakeOpenIdProvider
    const { pending, url } = yield* client.authorize(options?.authorize)
    const callback = yield* provider.approve(url, { user: options?.user, authTime: options?.authTime })
    return yield* client.complete(callback, pending)
  })
