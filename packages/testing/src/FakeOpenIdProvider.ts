/**
 * The fake authorization server as an OpenID provider (OpenID Connect Core 1.0), with no sockets: its
 * token responses carry ID Tokens signed with test keys (by `jose`) that it publishes at a JWKS
 * endpoint, it answers userinfo requests and announces `jwks_uri`, `userinfo_endpoint` and
 * `id_token_signing_alg_values_supported` in its OpenID discovery document. Keys rotate on demand, and
 * faults make the next ID Tokens wrong in one way each (bad signature, wrong `aud`/`iss`/`nonce`,
 * expired, `alg: none`, unknown `kid`…), so that every check of a relying party can be tested.
 *
 * `setJwksStatus(503)` makes the JWKS endpoint fail (until `setJwksStatus(undefined)`), and
 * `setUserinfoSubject` makes userinfo answer for another `sub`.
 *
 * Sign in through `approve` of this service (not of the server) so that the ID Token gets the
 * authorization request's `nonce`. The server needs `openid` among its scopes.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"
import * as internal from "./internal/fakeOpenIdProvider.js"

/**
 * `RS256` by default.
 *
 * @since 0.1.0
 * @category models
 */
export type SigningAlgorithm = internal.SigningAlgorithm

/**
 * What is wrong with the next ID Token: `bad-signature` (a signature byte changed), `wrong-aud`,
 * `wrong-iss`, `wrong-nonce`, `no-nonce`, `expired`, `future-iat`, `alg-none` (unsigned), `hs256`
 * (signed with the client secret), `unknown-kid` (signed with a key the JWKS does not publish),
 * `missing` (no `id_token` at all), `wrong-sub`, `wrong-at-hash`, `several-aud` (two audiences, no
 * `azp`), `old-auth-time` (a day old).
 *
 * @since 0.1.0
 * @category models
 */
export type IdTokenFault = internal.IdTokenFault

/**
 * @since 0.1.0
 * @category models
 */
export type Options = internal.Options

/**
 * @since 0.1.0
 * @category models
 */
export type Service = internal.Service

/**
 * @since 0.1.0
 * @category tags
 */
export class FakeOpenIdProvider extends Context.Tag("@effect-oauth/testing/FakeOpenIdProvider")<
  FakeOpenIdProvider,
  Service
>() {}

/**
 * The OpenID provider mode of a fake server.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  server: FakeAuthorizationServer.FakeAuthorizationServer.Service,
  options?: Options
): Effect.Effect<Service> => internal.make(server, options)

/**
 * The provider over the fake server in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<FakeOpenIdProvider, never, FakeAuthorizationServer.FakeAuthorizationServer> =>
  Layer.effect(
    FakeOpenIdProvider,
    Effect.flatMap(FakeAuthorizationServer.FakeAuthorizationServer, (server) => make(server, options))
  )

/**
 * The fake server answering as the OpenID provider in context: provide it to
 * `FakeAuthorizationServerHttp.httpApp` to serve the provider over real HTTP (ID Tokens, JWKS, userinfo
 * and discovery included; the consent page's approval records the `nonce`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerServer: Layer.Layer<FakeAuthorizationServer.FakeAuthorizationServer, never, FakeOpenIdProvider> =
  Layer.effect(
    FakeAuthorizationServer.FakeAuthorizationServer,
    Effect.map(FakeOpenIdProvider, (provider) => provider.asServer)
  )

/**
 * A fake server (with `openid` added to its scopes), its OpenID provider mode, and an `HttpClient`
 * routed to the provider (no sockets).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithHttpClient = (
  server?: Partial<FakeAuthorizationServer.Options>,
  options?: Options
): Layer.Layer<FakeOpenIdProvider | FakeAuthorizationServer.FakeAuthorizationServer | HttpClient.HttpClient> => {
  const serverOptions = FakeAuthorizationServer.makeOptions(server)
  const scopes = serverOptions.scopes.includes("openid") ? serverOptions.scopes : ["openid", ...serverOptions.scopes]
  return Layer.effect(HttpClient.HttpClient, Effect.map(FakeOpenIdProvider, (provider) => provider.httpClient)).pipe(
    Layer.provideMerge(layer(options)),
    Layer.provideMerge(FakeAuthorizationServer.layer({ ...server, scopes }))
  )
}

/**
 * The `at_hash` of an access token (OpenID Connect Core §3.1.3.6): SHA-256, or SHA-512 for EdDSA.
 *
 * @since 0.1.0
 * @category utils
 */
export const atHash = (accessToken: string, algorithm?: SigningAlgorithm): string =>
  internal.atHash(accessToken, algorithm)
