/**
 * Validating `OAuthConfig.Options` and filling in defaults (SPEC S9, S14, S24, S27, S33), the Credal
 * preset, and the configuration read from environment variables. A failure names the field and the
 * reason; `OAuthConfig` turns it into an `InvalidConfig`.
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as OAuthConfig from "../OAuthConfig.js"
import * as Endpoint from "./endpoint.js"

/** Why options cannot work: the fields of an `InvalidConfig`. */
export interface Invalid {
  readonly field: string
  readonly reason: string
}

const invalid = (field: string, reason: string): Either.Either<never, Invalid> => Either.left({ field, reason })

const positive = (
  field: string,
  input: Duration.DurationInput | undefined,
  fallback: Duration.Duration
): Either.Either<Duration.Duration, Invalid> => {
  if (input === undefined) return Either.right(fallback)
  const decoded = Duration.decodeUnknown(input)
  return Option.isSome(decoded) && Duration.greaterThanOrEqualTo(decoded.value, Duration.zero) &&
      Duration.isFinite(decoded.value)
    ? Either.right(decoded.value)
    : invalid(field, "must be a finite, non-negative duration")
}

const endpoint = (field: string, input: string | URL): Either.Either<URL, Invalid> =>
  Either.mapLeft(Endpoint.validateEndpoint(input), (reason) => ({ field, reason }))

const scopeToken = /^[\x21\x23-\x5b\x5d-\x7e]+$/

/** The validated configuration with its defaults, or the first field that cannot work. */
export const resolve = (options: OAuthConfig.Options): Either.Either<OAuthConfig.Resolved, Invalid> =>
  Either.gen(function*() {
    if (options.clientId.length === 0) return yield* invalid("clientId", "must not be empty")
    if (Redacted.value(options.clientSecret).length === 0) return yield* invalid("clientSecret", "must not be empty")
    const scopes = options.scopes ?? []
    const badScope = scopes.findIndex((scope) => !scopeToken.test(scope))
    if (badScope >= 0) {
      return yield* invalid(
        "scopes",
        `has an invalid scope at position ${badScope} (RFC 6749 §3.3: printable ASCII without space, " or \\)`
      )
    }
    const redirectUri = yield* Either.mapLeft(
      Endpoint.validateRedirectUri(options.redirectUri),
      (reason) => ({ field: "redirectUri", reason })
    )
    return {
      clientId: options.clientId,
      clientSecret: options.clientSecret,
      authorizationEndpoint: yield* endpoint("authorizationEndpoint", options.authorizationEndpoint),
      tokenEndpoint: yield* endpoint("tokenEndpoint", options.tokenEndpoint),
      revocationEndpoint: options.revocationEndpoint === undefined
        ? Option.none()
        : Option.some(yield* endpoint("revocationEndpoint", options.revocationEndpoint)),
      redirectUri,
      scopes,
      clientAuthMethod: options.clientAuthMethod ?? "client_secret_basic",
      pkce: options.pkce ?? true,
      issuer: Option.fromNullable(options.issuer),
      requireIssuerParameter: options.requireIssuerParameter ?? false,
      authorizationLifetime: yield* positive(
        "authorizationLifetime",
        options.authorizationLifetime,
        Duration.minutes(10)
      ),
      defaultAccessTokenLifetime: yield* positive(
        "defaultAccessTokenLifetime",
        options.defaultAccessTokenLifetime,
        Duration.hours(1)
      ),
      refreshTokenLifetime: options.refreshTokenLifetime === undefined
        ? Option.none()
        : Option.some(yield* positive("refreshTokenLifetime", options.refreshTokenLifetime, Duration.zero)),
      maxAccessTokenLifetime: yield* positive(
        "maxAccessTokenLifetime",
        options.maxAccessTokenLifetime,
        Duration.days(365)
      ),
      refreshWindow: yield* positive("refreshWindow", options.refreshWindow, Duration.seconds(60)),
      requestTimeout: yield* positive("requestTimeout", options.requestTimeout, Duration.seconds(30)),
      authorizationParams: { ...options.authorizationParams }
    }
  })

export const credalEndpoints = {
  authorizationEndpoint: "https://app.credal.ai/api/oauth/authorize",
  tokenEndpoint: "https://app.credal.ai/api/oauth/token",
  apiBaseUrl: "https://app.credal.ai/api/v1"
} as const

export type CredalOptions =
  & Pick<OAuthConfig.Options, "clientId" | "clientSecret" | "redirectUri">
  & Partial<Omit<OAuthConfig.Options, "clientId" | "clientSecret" | "redirectUri">>

export const credal = (options: CredalOptions): OAuthConfig.Options => ({
  clientId: options.clientId,
  clientSecret: options.clientSecret,
  redirectUri: options.redirectUri,
  authorizationEndpoint: credalEndpoints.authorizationEndpoint,
  tokenEndpoint: credalEndpoints.tokenEndpoint,
  scopes: ["api:agent:message:*"],
  clientAuthMethod: "client_secret_post",
  pkce: true,
  authorizationLifetime: Duration.minutes(10),
  defaultAccessTokenLifetime: Duration.hours(1),
  refreshTokenLifetime: Duration.days(30),
  ...(Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as Partial<
    OAuthConfig.Options
  >)
})

const url = (name: string) =>
  Config.mapOrFail(Config.string(name), (value) =>
    Either.mapLeft(
      Endpoint.validateEndpoint(value),
      (reason) => ConfigError.InvalidData([], `${reason}, got ${JSON.stringify(value)}`)
    ))

const optional = <A>(config: Config.Config<A>): Config.Config<A | undefined> =>
  Config.map(Config.option(config), Option.getOrUndefined)

const scopeList = (name: string) =>
  Config.map(Config.string(name), (value) => value.split(/[\s,]+/).filter((s) => s.length > 0))

export const fromEnv: Config.Config<OAuthConfig.Options> = Config.all({
  provider: optional(Config.literal("credal")("OAUTH_PROVIDER")),
  clientId: Config.string("OAUTH_CLIENT_ID"),
  clientSecret: Config.redacted("OAUTH_CLIENT_SECRET"),
  redirectUri: Config.mapOrFail(
    Config.string("OAUTH_REDIRECT_URI"),
    (value) => Either.mapLeft(Endpoint.validateRedirectUri(value), (reason) => ConfigError.InvalidData([], reason))
  ),
  authorizationEndpoint: optional(url("OAUTH_AUTHORIZATION_URL")),
  tokenEndpoint: optional(url("OAUTH_TOKEN_URL")),
  revocationEndpoint: optional(url("OAUTH_REVOCATION_URL")),
  scopes: optional(scopeList("OAUTH_SCOPES")),
  issuer: optional(Config.string("OAUTH_ISSUER")),
  clientAuthMethod: optional(Config.literal("client_secret_basic", "client_secret_post")("OAUTH_CLIENT_AUTH_METHOD")),
  pkce: optional(Config.boolean("OAUTH_PKCE")),
  defaultAccessTokenLifetime: optional(Config.duration("OAUTH_ACCESS_TOKEN_LIFETIME")),
  refreshTokenLifetime: optional(Config.duration("OAUTH_REFRESH_TOKEN_LIFETIME")),
  authorizationLifetime: optional(Config.duration("OAUTH_AUTHORIZATION_LIFETIME")),
  refreshWindow: optional(Config.duration("OAUTH_REFRESH_WINDOW")),
  requestTimeout: optional(Config.duration("OAUTH_REQUEST_TIMEOUT"))
}).pipe(
  Config.mapOrFail(({ authorizationEndpoint, provider, tokenEndpoint, ...rest }) => {
    const defined = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined)) as
      & Pick<OAuthConfig.Options, "clientId" | "clientSecret" | "redirectUri">
      & Partial<OAuthConfig.Options>
    if (provider === "credal") {
      return Either.right(credal({
        ...defined,
        ...(authorizationEndpoint === undefined ? {} : { authorizationEndpoint }),
        ...(tokenEndpoint === undefined ? {} : { tokenEndpoint })
      }))
    }
    if (authorizationEndpoint === undefined) {
      return Either.left(
        ConfigError.MissingData(
          ["OAUTH_AUTHORIZATION_URL"],
          "Expected OAUTH_AUTHORIZATION_URL to exist (or OAUTH_PROVIDER=credal)"
        )
      )
    }
    if (tokenEndpoint === undefined) {
      return Either.left(
        ConfigError.MissingData(["OAUTH_TOKEN_URL"], "Expected OAUTH_TOKEN_URL to exist (or OAUTH_PROVIDER=credal)")
      )
    }
    return Either.right({ ...defined, authorizationEndpoint, tokenEndpoint })
  })
)
