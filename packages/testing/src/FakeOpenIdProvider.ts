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
 * @example
 * ```ts
 * import { FakeOpenIdProvider } from "@effect-oauth/testing"
 *
 * const algorithm: FakeOpenIdProvider.SigningAlgorithm = "ES256"
 * const ProviderLive = FakeOpenIdProvider.layerWithHttpClient({}, { algorithm })
 * ```
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
 * @example
 * ```ts
 * import { FakeOpenIdProvider } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The next ID Token names another audience: the client must refuse the sign-in.
 * const fault: FakeOpenIdProvider.IdTokenFault = "wrong-aud"
 * const inject = Effect.flatMap(FakeOpenIdProvider.FakeOpenIdProvider, (provider) => provider.injectIdTokenFault(fault))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type IdTokenFault = internal.IdTokenFault

/**
 * @example
 * ```ts
 * import { FakeOpenIdProvider } from "@effect-oauth/testing"
 *
 * // Every user gets an email claim; ID Tokens live 5 minutes and are not renewed on refresh.
 * const options: FakeOpenIdProvider.Options = {
 *   claims: (user) => ({ email: `${user}@example.com` }),
 *   idTokenLifetime: "5 minutes",
 *   idTokenOnRefresh: false
 * }
 * const ProviderLive = FakeOpenIdProvider.layerWithHttpClient({}, options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Options = internal.Options

/**
 * @example
 * ```ts
 * import { FakeOpenIdProvider } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * // The provider rotates its keys: ID Tokens now carry a `kid` the client has not seen.
 * const program = Effect.gen(function*() {
 *   const provider: FakeOpenIdProvider.Service = yield* FakeOpenIdProvider.FakeOpenIdProvider
 *   const before = (yield* provider.jwks).keys.length
 *   yield* provider.rotateKeys({ keepOld: true })
 *   return [before, (yield* provider.jwks).keys.length]
 * }).pipe(Effect.provide(FakeOpenIdProvider.layerWithHttpClient()))
 * assert.deepStrictEqual(await Effect.runPromise(program), [1, 2])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Service = internal.Service

/**
 * @example
 * ```ts
 * import { FakeOpenIdProvider } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.map(FakeOpenIdProvider.FakeOpenIdProvider, (provider) => provider.jwksUri).pipe(
 *   Effect.provide(FakeOpenIdProvider.layerWithHttpClient({ issuer: "https://op.example" }))
 * )
 * assert.ok((await Effect.runPromise(program)).startsWith("https://op.example/"))
 * ```
 *
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
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeOpenIdProvider } from "@effect-oauth/testing"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const server = yield* FakeAuthorizationServer.make({ scopes: ["openid"] })
 *   const provider = yield* FakeOpenIdProvider.make(server, { algorithm: "EdDSA" })
 *   return provider.algorithm
 * })
 * assert.strictEqual(await Effect.runPromise(program), "EdDSA")
 * ```
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
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeOpenIdProvider } from "@effect-oauth/testing"
 * import { Layer } from "effect"
 *
 * // What `layerWithHttpClient` does, for a server with options of your own.
 * const ProviderLive = FakeOpenIdProvider.layer().pipe(
 *   Layer.provideMerge(FakeAuthorizationServer.layer({ scopes: ["openid", "email"] }))
 * )
 * ```
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
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeOpenIdProvider, FakeAuthorizationServerHttp } from "@effect-oauth/testing"
 * import { HttpServer } from "@effect/platform"
 * import { NodeHttpServer } from "@effect/platform-node"
 * import { Layer } from "effect"
 * import { createServer } from "node:http"
 *
 * // The provider over real HTTP on port 4000 (ID Tokens, JWKS, userinfo), when launched.
 * const ProviderHttpLive = HttpServer.serve(FakeAuthorizationServerHttp.httpApp).pipe(
 *   Layer.provide(FakeOpenIdProvider.layerServer),
 *   Layer.provide(FakeOpenIdProvider.layer()),
 *   Layer.provide(FakeAuthorizationServer.layer({ issuer: "http://127.0.0.1:4000", scopes: ["openid"] })),
 *   Layer.provide(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 4000 }))
 * )
 * ```
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
 * @example
 * ```ts
 * import { FakeOpenIdProvider } from "@effect-oauth/testing"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // The provider's discovery document, through the routed `HttpClient`.
 * const program = Effect.gen(function*() {
 *   const http = yield* HttpClient.HttpClient
 *   const response = yield* http.get("https://app.credal.ai/.well-known/openid-configuration")
 *   const document = (yield* response.json) as { readonly jwks_uri?: string }
 *   return document.jwks_uri !== undefined
 * }).pipe(Effect.provide(FakeOpenIdProvider.layerWithHttpClient()))
 * assert.strictEqual(await Effect.runPromise(program), true)
 * ```
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
 * @example
 * ```ts
 * import { FakeOpenIdProvider } from "@effect-oauth/testing"
 *
 * // The left half of the SHA-256 of the token, base64url (16 bytes: 22 characters).
 * assert.strictEqual(FakeOpenIdProvider.atHash("an-access-token").length, 22)
 * assert.strictEqual(FakeOpenIdProvider.atHash("an-access-token", "EdDSA").length, 43)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const atHash = (accessToken: string, algorithm?: SigningAlgorithm): string =>
  internal.atHash(accessToken, algorithm)
