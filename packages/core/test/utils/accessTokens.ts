import { AccessTokens, type OAuthClient, type OAuthConfig, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest } from "@effect-oauth/testing"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"

export interface Setup {
  readonly server?: Partial<FakeAuthorizationServer.Options>
  readonly client?: Partial<OAuthConfig.Options>
  readonly accessTokens?: AccessTokens.Options
}

/** AccessTokens over a memory store, the OAuth client and the fake server. */
export const layer = (setup: Setup = {}) =>
  AccessTokens.layer(setup.accessTokens).pipe(
    Layer.provideMerge(TokenStore.layerMemory),
    Layer.provideMerge(OAuthTest.layer({ server: setup.server, client: setup.client }))
  )

export type Env = Layer.Layer.Success<ReturnType<typeof layer>>

/** Signs `user` in at the fake server and saves the tokens under `key`. */
export const signedIn = (key: string, user = key) =>
  Effect.gen(function*() {
    const tokens = yield* OAuthTest.signIn(user)
    yield* Effect.flatMap(AccessTokens.AccessTokens, (service) => service.save(key, tokens))
    return tokens
  })

/** Another AccessTokens over the same store and client: a second process sharing the store. */
export const sibling = (
  options?: AccessTokens.Options
): Effect.Effect<
  AccessTokens.Service,
  never,
  OAuthClient.OAuthClient | OAuthConfig.OAuthConfig | TokenStore.TokenStore | Scope.Scope
> => AccessTokens.make(options)

export const counters = Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) => server.counters)
