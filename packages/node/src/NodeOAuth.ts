/**
 * Ready layers for Node.js: the OAuth client with its configuration over a live `HttpClient`
 * (undici, from `@effect/platform-node`).
 *
 * @since 0.1.0
 */
import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import type * as HttpClient from "@effect/platform/HttpClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Layer from "effect/Layer"

/**
 * The live HTTP client used by the layers of this module: undici with its default connection pool.
 * Request timeouts come from `OAuthConfig.requestTimeout`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerHttpClient: Layer.Layer<HttpClient.HttpClient> = NodeHttpClient.layerUndici

/**
 * `OAuthClient` and `OAuthConfig` from options, over the live HTTP client.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: OAuthConfig.Options
): Layer.Layer<OAuthClient.OAuthClient | OAuthConfig.OAuthConfig, OAuthConfig.InvalidConfig> =>
  OAuthClient.layerWithConfig(options).pipe(Layer.provide(layerHttpClient))

/**
 * `OAuthClient` and `OAuthConfig` from environment variables (see `OAuthConfig.fromEnv`), over the
 * live HTTP client.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config?: Config.Config<OAuthConfig.Options>
): Layer.Layer<
  OAuthClient.OAuthClient | OAuthConfig.OAuthConfig,
  ConfigError.ConfigError | OAuthConfig.InvalidConfig
> =>
  OAuthClient.layer.pipe(
    Layer.provideMerge(OAuthConfig.layerConfig(config)),
    Layer.provide(layerHttpClient)
  )

/**
 * Credal API v1 from client id, secret and redirect URI, over the live HTTP client.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCredal = (
  options: Parameters<typeof OAuthConfig.credal>[0]
): Layer.Layer<OAuthClient.OAuthClient | OAuthConfig.OAuthConfig, OAuthConfig.InvalidConfig> =>
  layer(OAuthConfig.credal(options))
