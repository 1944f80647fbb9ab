/**
 * Ready layers for Node.js: the OAuth client with its configuration over a live `HttpClient`
 * (undici, from `@effect/platform-node`).
 *
 * Every `layer*` here also provides that `HttpClient`, so that what is built on top of it can make
 * authorized calls: `AccessTokens.layer()` over `NodeOAuth.layerCredal(…)` gives `OAuthHttpClient.make`
 * everything it needs.
 *
 * ```ts
 * import { AccessTokens, OAuthHttpClient, TokenStore } from "@effect-oauth/core"
 * import { NodeOAuth } from "@effect-oauth/node"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * const TokensLive = AccessTokens.layer().pipe(
 *   Layer.provideMerge(TokenStore.layerMemory),
 *   Layer.provideMerge(NodeOAuth.layerCredal({
 *     clientId: "my-client-id",
 *     clientSecret: Redacted.make("my-client-secret"),
 *     redirectUri: "https://app.example.com/callback"
 *   }))
 * )
 * const whoami = Effect.flatMap(OAuthHttpClient.make("user-1"), (http) => http.get("https://app.credal.ai/api/v1/whoami"))
 * const program = whoami.pipe(Effect.provide(TokensLive))
 * ```
 *
 * @since 0.1.0
 */
import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
import type { Discovery, OAuthError } from "@effect-oauth/core"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"

/**
 * What every layer of this module provides: the client, its configuration and the live `HttpClient`.
 *
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { NodeOAuth } from "@effect-oauth/node"
 * import { Effect, Redacted } from "effect"
 *
 * // A program that needs what every layer of this module provides, whichever one is chosen.
 * const signInUrl: Effect.Effect<URL, never, NodeOAuth.Provides> = Effect.gen(function*() {
 *   const oauth = yield* OAuthClient.OAuthClient
 *   const { url } = yield* oauth.authorize()
 *   return url
 * })
 * const program = signInUrl.pipe(Effect.provide(NodeOAuth.layerCredal({
 *   clientId: "my-client-id",
 *   clientSecret: Redacted.make("my-client-secret"),
 *   redirectUri: "http://127.0.0.1:3000/callback"
 * })))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Provides = OAuthClient.OAuthClient | OAuthConfig.OAuthConfig | HttpClient.HttpClient

/**
 * The live HTTP client used by the layers of this module: undici with its default connection pool.
 * Request timeouts come from `OAuthConfig.requestTimeout`.
 *
 * @example
 * ```ts
 * import { NodeOAuth } from "@effect-oauth/node"
 * import { HttpClient } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // The same undici client for your own requests.
 * const program = Effect.flatMap(HttpClient.HttpClient, (http) => http.get("https://example.com")).pipe(
 *   Effect.provide(NodeOAuth.layerHttpClient)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici

/**
 * `OAuthClient` and `OAuthConfig` from options, with the live HTTP client (provided too).
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { NodeOAuth } from "@effect-oauth/node"
 * import { Effect, Redacted } from "effect"
 *
 * const ClientLive = NodeOAuth.layer({
 *   clientId: "my-client-id",
 *   clientSecret: Redacted.make("my-client-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "http://127.0.0.1:3000/callback",
 *   scopes: ["read"]
 * })
 * // Building the layer sends no request.
 * const config = await Effect.runPromise(Effect.provide(OAuthConfig.OAuthConfig, ClientLive))
 * assert.strictEqual(config.clientId, "my-client-id")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: OAuthConfig.Options): Layer.Layer<Provides, OAuthConfig.InvalidConfig> =>
  OAuthClient.layerWithConfig(options).pipe(Layer.provideMerge(layerHttpClient))

/**
 * `OAuthClient` and `OAuthConfig` from environment variables (see `OAuthConfig.fromEnv`), with the
 * live HTTP client (provided too).
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { NodeOAuth } from "@effect-oauth/node"
 * import { ConfigProvider, Effect, Layer } from "effect"
 *
 * // Reads OAUTH_PROVIDER, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OAUTH_REDIRECT_URI, … (here from a map).
 * const env = ConfigProvider.fromMap(
 *   new Map([
 *     ["OAUTH_PROVIDER", "credal"],
 *     ["OAUTH_CLIENT_ID", "my-client-id"],
 *     ["OAUTH_CLIENT_SECRET", "my-client-secret"],
 *     ["OAUTH_REDIRECT_URI", "http://127.0.0.1:3000/callback"]
 *   ])
 * )
 * const ClientLive = NodeOAuth.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(env)))
 * const config = await Effect.runPromise(Effect.provide(OAuthConfig.OAuthConfig, ClientLive))
 * assert.strictEqual(config.clientId, "my-client-id")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config?: Config.Config<OAuthConfig.Options>
): Layer.Layer<Provides, ConfigError.ConfigError | OAuthConfig.InvalidConfig> =>
  OAuthClient.layer.pipe(
    Layer.provideMerge(OAuthConfig.layerConfig(config)),
    Layer.provideMerge(layerHttpClient)
  )

/**
 * Credal API v1 from client id, secret and redirect URI, with the live HTTP client (provided too).
 *
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { NodeOAuth } from "@effect-oauth/node"
 * import { Config, Effect, Layer } from "effect"
 *
 * // The secret from the environment, the rest in code.
 * const ClientLive = Layer.unwrapEffect(
 *   Effect.map(Config.redacted("CREDAL_CLIENT_SECRET"), (clientSecret) =>
 *     NodeOAuth.layerCredal({ clientId: "my-client-id", clientSecret, redirectUri: "https://app.example.com/callback" }))
 * )
 * const login = Effect.flatMap(OAuthClient.OAuthClient, (oauth) => oauth.authorize()).pipe(Effect.provide(ClientLive))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCredal = (
  options: Parameters<typeof OAuthConfig.credal>[0]
): Layer.Layer<Provides, OAuthConfig.InvalidConfig> => layer(OAuthConfig.credal(options))

/**
 * The client of an issuer whose endpoints come from its RFC 8414 (or OpenID) metadata, fetched once
 * over the live HTTP client when the layer is built (SPEC S31); the HTTP client is provided too.
 *
 * @example
 * ```ts
 * import { NodeOAuth } from "@effect-oauth/node"
 * import { Redacted } from "effect"
 *
 * // Endpoints from https://accounts.example.com/.well-known/…, fetched when the layer is built.
 * const ClientLive = NodeOAuth.layerDiscovery("https://accounts.example.com", {
 *   clientId: "my-client-id",
 *   clientSecret: Redacted.make("my-client-secret"),
 *   redirectUri: "http://127.0.0.1:3000/callback",
 *   scopes: ["openid", "email"]
 * })
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDiscovery = (
  issuer: string,
  client: Discovery.DiscoveredOptions,
  options?: Discovery.DiscoverOptions
): Layer.Layer<Provides, OAuthError.DiscoveryError | OAuthConfig.InvalidConfig> =>
  OAuthClient.layer.pipe(
    Layer.provideMerge(OAuthConfig.layerDiscovery(issuer, client, options)),
    Layer.provideMerge(layerHttpClient)
  )
