/**
 * Everything the client needs to know about itself and the authorization server. Built from options
 * (`layer`), from environment variables (`layerConfig`), or from the Credal preset (`credal`).
 * Endpoints are validated at construction: https, except loopback hosts (SPEC S27).
 *
 * @since 0.1.0
 */
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as Discovery from "./Discovery.js"
import * as Endpoint from "./internal/endpoint.js"
import * as internal from "./internal/oauthConfig.js"
import * as OAuthError from "./OAuthError.js"

/**
 * How the client authenticates at the token and revocation endpoints (RFC 6749 §2.3.1).
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 *
 * // Send the client secret in the form body instead of the Authorization header.
 * const method: OAuthConfig.ClientAuthMethod = "client_secret_post"
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type ClientAuthMethod = "client_secret_basic" | "client_secret_post"

/**
 * What a user writes.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Redacted } from "effect"
 *
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read", "write"]
 * }
 * const ConfigLive = OAuthConfig.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly authorizationEndpoint: string | URL
  readonly tokenEndpoint: string | URL
  readonly redirectUri: string | URL
  readonly revocationEndpoint?: string | URL | undefined
  /** Default: none. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** Default: `client_secret_basic`, which every RFC 6749 server supports. */
  readonly clientAuthMethod?: ClientAuthMethod | undefined
  /** PKCE S256; default: on. */
  readonly pkce?: boolean | undefined
  /** The authorization server's issuer identifier; when set, `iss` in callbacks must match (RFC 9207). */
  readonly issuer?: string | undefined
  /** Reject callbacks without `iss`; default: off. Turn it on for servers that always send it. */
  readonly requireIssuerParameter?: boolean | undefined
  /** How long a pending authorization waits for its callback; default 10 minutes (SPEC S9). */
  readonly authorizationLifetime?: Duration.DurationInput | undefined
  /** Access token lifetime when the server sends no `expires_in`; default 1 hour (SPEC S14). */
  readonly defaultAccessTokenLifetime?: Duration.DurationInput | undefined
  /** Refresh token lifetime the server does not announce; default: unknown (SPEC S24). */
  readonly refreshTokenLifetime?: Duration.DurationInput | undefined
  /** The longest access token lifetime believed: a larger `expires_in` is clamped to it; default 1 year (SPEC S33). */
  readonly maxAccessTokenLifetime?: Duration.DurationInput | undefined
  /** Refresh this long before the access token expires; default 60 seconds (SPEC S24). */
  readonly refreshWindow?: Duration.DurationInput | undefined
  /**
   * The deadline of one exchange with the token or revocation endpoint, covering connect, headers and the
   * whole body (SPEC S32); default 30 seconds.
   */
  readonly requestTimeout?: Duration.DurationInput | undefined
  /** Extra parameters for every authorization URL, such as `prompt` or `audience`. */
  readonly authorizationParams?: Readonly<Record<string, string>> | undefined
}

/**
 * The validated configuration.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const config: OAuthConfig.Resolved = Effect.runSync(OAuthConfig.make({
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback"
 * }))
 * // Defaults are filled in: PKCE on, client_secret_basic.
 * assert.strictEqual(config.pkce, true)
 * assert.strictEqual(config.clientAuthMethod, "client_secret_basic")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Resolved {
  readonly clientId: string
  readonly clientSecret: Redacted.Redacted<string>
  readonly authorizationEndpoint: URL
  readonly tokenEndpoint: URL
  readonly revocationEndpoint: Option.Option<URL>
  readonly redirectUri: string
  readonly scopes: ReadonlyArray<string>
  readonly clientAuthMethod: ClientAuthMethod
  readonly pkce: boolean
  readonly issuer: Option.Option<string>
  readonly requireIssuerParameter: boolean
  readonly authorizationLifetime: Duration.Duration
  readonly defaultAccessTokenLifetime: Duration.Duration
  readonly refreshTokenLifetime: Option.Option<Duration.Duration>
  /** Absent in hand-built values: 1 year (SPEC S33). */
  readonly maxAccessTokenLifetime?: Duration.Duration | undefined
  readonly refreshWindow: Duration.Duration
  readonly requestTimeout: Duration.Duration
  readonly authorizationParams: Readonly<Record<string, string>>
}

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Effect, Option } from "effect"
 *
 * // What needs the configuration requires the tag; a layer of this module provides it.
 * const revocable: Effect.Effect<boolean, never, OAuthConfig.OAuthConfig> = Effect.map(
 *   OAuthConfig.OAuthConfig,
 *   (config) => Option.isSome(config.revocationEndpoint)
 * )
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class OAuthConfig extends Context.Tag("@effect-oauth/core/OAuthConfig")<OAuthConfig, Resolved>() {}

/**
 * A configuration that cannot work, found when the layer is built (defined in `OAuthError`).
 *
 * @example
 * ```ts
 * import { OAuthConfig, OAuthError } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.InvalidConfig, OAuthError.InvalidConfig)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const InvalidConfig: typeof OAuthError.InvalidConfig = OAuthError.InvalidConfig

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 *
 * const field = (error: OAuthConfig.InvalidConfig): string => error.field
 * assert.strictEqual(field(new OAuthConfig.InvalidConfig({ field: "redirectUri", reason: "must be absolute" })), "redirectUri")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type InvalidConfig = OAuthError.InvalidConfig

/**
 * Whether a host name is a loopback host: 127.0.0.0/8, ::1 (`[::1]` as in URLs) or localhost, in any
 * case (SPEC S27). Loopback hosts may be reached over plain http and serve cookies without `Secure`.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.isLoopbackHost("127.0.0.1"), true)
 * assert.strictEqual(OAuthConfig.isLoopbackHost("localhost"), true)
 * assert.strictEqual(OAuthConfig.isLoopbackHost("example.com"), false)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const isLoopbackHost: (hostname: string) => boolean = Endpoint.isLoopbackHostname

/**
 * An endpoint URL must be absolute, https (or http on a loopback host: 127.0.0.0/8, ::1, localhost),
 * without credentials or fragment (SPEC S27). Returns the reason it is not, or the URL.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Either } from "effect"
 *
 * assert.ok(Either.isRight(OAuthConfig.validateEndpoint("https://auth.example.com/token")))
 * assert.ok(Either.isRight(OAuthConfig.validateEndpoint("http://localhost:8080/token")))
 * assert.deepStrictEqual(
 *   OAuthConfig.validateEndpoint("http://auth.example.com/token"),
 *   Either.left("must use https (http is allowed only for loopback hosts)")
 * )
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const validateEndpoint: (input: string | URL) => Either.Either<URL, string> = Endpoint.validateEndpoint

/**
 * A redirect URI must be absolute and have no fragment (RFC 6749 §3.1.2). It is kept byte for byte.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Either } from "effect"
 *
 * assert.deepStrictEqual(
 *   OAuthConfig.validateRedirectUri("http://127.0.0.1:3000/callback"),
 *   Either.right("http://127.0.0.1:3000/callback")
 * )
 * assert.deepStrictEqual(
 *   OAuthConfig.validateRedirectUri("https://app.example.com/callback#top"),
 *   Either.left("must not contain a fragment")
 * )
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const validateRedirectUri: (input: string | URL) => Either.Either<string, string> = Endpoint.validateRedirectUri

/**
 * Validates options and fills in defaults.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback"
 * }
 * // A bad scope fails with InvalidConfig when the layer is built, not at the first request.
 * const error = Effect.runSync(Effect.flip(OAuthConfig.make({ ...options, scopes: ["read write"] })))
 * assert.strictEqual(error.field, "scopes")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: Options): Effect.Effect<Resolved, InvalidConfig> =>
  Effect.suspend(() => Effect.mapError(internal.resolve(options), (invalid) => new InvalidConfig(invalid)))

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const ConfigLive = OAuthConfig.layer({
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback"
 * })
 * const program = Effect.map(OAuthConfig.OAuthConfig, (config) => config.clientId)
 * assert.strictEqual(Effect.runSync(Effect.provide(program, ConfigLive)), "my-client")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<OAuthConfig, InvalidConfig> =>
  Layer.effect(OAuthConfig, make(options))

/**
 * The facts of Credal API v1 (SPEC.md): endpoints, client_secret_post, the `api:agent:message:*`
 * scope, PKCE S256, 10-minute codes, 1-hour access tokens and 30-day rotated refresh tokens. Any
 * option given overrides the preset; an option given as `undefined` keeps the preset's value.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const options = OAuthConfig.credal({
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   redirectUri: "https://app.example.com/oauth/callback"
 * })
 * assert.strictEqual(options.clientAuthMethod, "client_secret_post")
 * assert.deepStrictEqual(Effect.runSync(OAuthConfig.make(options)).scopes, ["api:agent:message:*"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const credal: (
  options:
    & Pick<Options, "clientId" | "clientSecret" | "redirectUri">
    & Partial<Omit<Options, "clientId" | "clientSecret" | "redirectUri">>
) => Options = internal.credal

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.credalEndpoints.tokenEndpoint, "https://app.credal.ai/api/oauth/token")
 * const messages = new URL("agent/message", `${OAuthConfig.credalEndpoints.apiBaseUrl}/`)
 * assert.strictEqual(messages.href, "https://app.credal.ai/api/v1/agent/message")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const credalEndpoints = internal.credalEndpoints

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Effect, Redacted } from "effect"
 *
 * const layer = OAuthConfig.layerCredal({
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   redirectUri: "https://app.example.com/oauth/callback"
 * })
 * const program = Effect.map(OAuthConfig.OAuthConfig, (config) => config.authorizationEndpoint.host)
 * assert.strictEqual(Effect.runSync(Effect.provide(program, layer)), "app.credal.ai")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerCredal = (
  options: Parameters<typeof credal>[0]
): Layer.Layer<OAuthConfig, InvalidConfig> => layer(credal(options))

/**
 * The configuration read from environment variables:
 *
 * | variable | meaning |
 * | --- | --- |
 * | `OAUTH_PROVIDER` | optional; `credal` fills in Credal's endpoints, scope, auth method and lifetimes |
 * | `OAUTH_CLIENT_ID` | required |
 * | `OAUTH_CLIENT_SECRET` | required, read as `Redacted` |
 * | `OAUTH_REDIRECT_URI` | required |
 * | `OAUTH_AUTHORIZATION_URL`, `OAUTH_TOKEN_URL` | required unless a provider is named |
 * | `OAUTH_SCOPES` | space- or comma-separated |
 * | `OAUTH_ISSUER`, `OAUTH_REVOCATION_URL` | optional |
 * | `OAUTH_CLIENT_AUTH_METHOD` | `client_secret_basic` or `client_secret_post` |
 * | `OAUTH_PKCE` | `true` / `false` |
 * | `OAUTH_ACCESS_TOKEN_LIFETIME`, `OAUTH_REFRESH_TOKEN_LIFETIME`, `OAUTH_AUTHORIZATION_LIFETIME`, `OAUTH_REFRESH_WINDOW`, `OAUTH_REQUEST_TIMEOUT` | durations such as `30 days`, `60 seconds` |
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { ConfigProvider, Effect, Layer } from "effect"
 *
 * // In production the variables come from the environment; here from JSON.
 * const env = ConfigProvider.fromJson({
 *   OAUTH_PROVIDER: "credal",
 *   OAUTH_CLIENT_ID: "my-client",
 *   OAUTH_CLIENT_SECRET: "my-secret",
 *   OAUTH_REDIRECT_URI: "https://app.example.com/oauth/callback"
 * })
 * const options = Effect.runSync(Effect.withConfigProvider(OAuthConfig.fromEnv, env))
 * assert.strictEqual(String(options.clientSecret), "<redacted>")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromEnv: Config.Config<Options> = internal.fromEnv

/**
 * Builds the configuration from a `Config` — by default {@link fromEnv}. A missing or malformed
 * variable fails the layer with a `ConfigError` naming it.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Config } from "effect"
 *
 * // The variables of `fromEnv`, and one more scope than they name.
 * const ConfigLive = OAuthConfig.layerConfig(
 *   Config.map(OAuthConfig.fromEnv, (options) => ({ ...options, scopes: [...(options.scopes ?? []), "offline_access"] }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  config: Config.Config<Options> | Config.Config.Wrap<Options> = fromEnv
): Layer.Layer<OAuthConfig, ConfigError.ConfigError | InvalidConfig> =>
  Layer.effect(OAuthConfig, Effect.flatMap(Config.isConfig(config) ? config : Config.unwrap(config), make))

// discovery (RFC 8414, SPEC S31): the implementation and its documentation live in `Discovery`

/**
 * The metadata schema, defined in `Discovery`.
 *
 * @example
 * ```ts
 * import { Discovery, OAuthConfig } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.AuthorizationServerMetadata, Discovery.AuthorizationServerMetadata)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const AuthorizationServerMetadata: typeof Discovery.AuthorizationServerMetadata =
  Discovery.AuthorizationServerMetadata

/**
 * @example
 * ```ts
 * import type { OAuthConfig } from "@effect-oauth/core"
 *
 * const tokenEndpoint = (metadata: OAuthConfig.AuthorizationServerMetadata): string => metadata.tokenEndpoint
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export type AuthorizationServerMetadata = Discovery.AuthorizationServerMetadata

/**
 * Discovery failed; defined in `OAuthError`.
 *
 * @example
 * ```ts
 * import { OAuthConfig, OAuthError } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.DiscoveryError, OAuthError.DiscoveryError)
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export const DiscoveryError: typeof OAuthError.DiscoveryError = OAuthError.DiscoveryError

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 *
 * const advice = (error: OAuthConfig.DiscoveryError): string =>
 *   error.reason === "NotFound" ? "configure the endpoints by hand" : error.message
 * assert.strictEqual(advice(new OAuthConfig.DiscoveryError({ issuer: "https://auth.example.com", reason: "NotFound" })), "configure the endpoints by hand")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export type DiscoveryError = OAuthError.DiscoveryError

/**
 * @example
 * ```ts
 * import type { OAuthConfig } from "@effect-oauth/core"
 *
 * const options: OAuthConfig.DiscoverOptions = { openIdFallback: true, timeout: "10 seconds" }
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type DiscoverOptions = Discovery.DiscoverOptions

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { Redacted } from "effect"
 *
 * // No endpoints: they come from the issuer's metadata.
 * const ConfigLive = OAuthConfig.layerDiscovery("https://auth.example.com", {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   redirectUri: "https://app.example.com/oauth/callback"
 * } satisfies OAuthConfig.DiscoveredOptions)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type DiscoveredOptions = Discovery.DiscoveredOptions

/**
 * `Discovery.wellKnownUrls`.
 *
 * @example
 * ```ts
 * import { Discovery, OAuthConfig } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.wellKnownUrls, Discovery.wellKnownUrls)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const wellKnownUrls: typeof Discovery.wellKnownUrls = Discovery.wellKnownUrls

/**
 * `Discovery.discover`: fetches and checks the metadata of an issuer (SPEC S31).
 *
 * @example
 * ```ts
 * import { Discovery, OAuthConfig } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.discover, Discovery.discover)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover: typeof Discovery.discover = Discovery.discover

/**
 * `Discovery.fromMetadata`: completes client options from metadata.
 *
 * @example
 * ```ts
 * import { Discovery, OAuthConfig } from "@effect-oauth/core"
 *
 * assert.strictEqual(OAuthConfig.fromMetadata, Discovery.fromMetadata)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromMetadata: typeof Discovery.fromMetadata = Discovery.fromMetadata

/**
 * The configuration of a client whose endpoints are discovered from its issuer's metadata (see
 * `Discovery.discover` and `Discovery.fromMetadata`), fetched once when the layer is built and kept for
 * its lifetime.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { FakeAuthorizationServer } from "@effect-oauth/testing"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * // A fake authorization server that serves its RFC 8414 document.
 * const ServerLive = FakeAuthorizationServer.layerWithHttpClient({ issuer: "https://auth.example.com" })
 * const ConfigLive = OAuthConfig.layerDiscovery("https://auth.example.com", {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   redirectUri: "https://app.example.com/oauth/callback"
 * }).pipe(Layer.provide(ServerLive))
 * const program = Effect.map(OAuthConfig.OAuthConfig, (config) => config.tokenEndpoint.href)
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, ConfigLive)), "https://auth.example.com/api/oauth/token")
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerDiscovery = (
  issuer: string,
  client: DiscoveredOptions,
  options?: DiscoverOptions
): Layer.Layer<OAuthConfig, DiscoveryError | InvalidConfig, HttpClient.HttpClient> =>
  Layer.effect(
    OAuthConfig,
    Effect.flatMap(
      Discovery.discover(issuer, options),
      (metadata) => Effect.flatMap(Discovery.fromMetadata(metadata, client), make)
    )
  )
