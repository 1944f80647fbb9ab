/**
 * OpenID Connect ID Token validation (OpenID Connect Core §3.1.3.7, and §12.2 after a refresh), with
 * `jose` for the signature and the provider's keys from a shared `JwksCache`.
 *
 * Provide `layerValidator` to the `OAuthClient` layer (or use `layerOAuthClient`) and every exchange
 * and refresh validates its ID Token before the tokens are returned, so `AccessTokens` never stores and
 * sign-in routes never keep tokens whose ID Token failed a check. Each check that fails is an
 * `OAuthError.InvalidIdToken` naming it; no error carries the token.
 *
 * @since 0.1.0
 */
import {
  OAuthClient,
  OAuthConfig,
  OAuthError,
  type PendingAuthorization,
  type TokenSet,
  TokenValidator
} from "@effect-oauth/core"
import type * as HttpClient from "@effect/platform/HttpClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Jose from "jose"
import * as IdTokenClaims from "./IdTokenClaims.js"
import * as JwksCache from "./JwksCache.js"
import * as ProviderMetadata from "./ProviderMetadata.js"

/**
 * @example
 * ```ts
 * import { IdTokens } from "@effect-oauth/oidc"
 *
 * // ES256 only, a minute of clock skew, and the key set fetched at most every 5 minutes.
 * const options: IdTokens.Options = { algorithms: ["ES256"], clockSkew: "1 minute", jwks: { cooldown: "5 minutes" } }
 * const IdTokensLive = IdTokens.layer(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The provider's metadata; default: discovered from the configured issuer (`ProviderMetadata.discover`). */
  readonly metadata?: ProviderMetadata.ProviderMetadata | undefined
  /** Options of the discovery request. */
  readonly discovery?: ProviderMetadata.DiscoverOptions | undefined
  /**
   * The signing algorithms accepted. Default: those the provider announces, without `HS*`, or `RS256`
   * when it announces none. `none` is never accepted. `HS*` algorithms are accepted only when listed
   * here: the key is then the client secret (OpenID Connect Core §10.1).
   */
  readonly algorithms?: ReadonlyArray<string> | undefined
  /** How far the provider's clock may be from ours, for `exp`, `iat` and `auth_time`; default 30 seconds. */
  readonly clockSkew?: Duration.DurationInput | undefined
  /** Options of the key set cache; its deadline defaults to the configured request timeout. */
  readonly jwks?: Omit<JwksCache.Options, "uri"> | undefined
}

/**
 * What an ID Token is checked against, besides the configured issuer and client id.
 *
 * @example
 * ```ts
 * import { IdTokens } from "@effect-oauth/oidc"
 * import { Effect, Option, Redacted } from "effect"
 *
 * // The checks of a sign-in whose authorization request sent a nonce.
 * const validate = (idToken: Redacted.Redacted<string>, nonce: Redacted.Redacted<string>) =>
 *   Effect.gen(function*() {
 *     const idTokens = yield* IdTokens.IdTokens
 *     const expected: IdTokens.Expected = { during: "exchange", nonce: Option.some(nonce) }
 *     return yield* idTokens.validate(idToken, expected)
 *   })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Expected {
  readonly during: "exchange" | "refresh"
  /** The nonce of the authorization request (exchange). */
  readonly nonce?: Option.Option<Redacted.Redacted<string>> | undefined
  /** The `max_age` of the authorization request, in seconds (exchange). */
  readonly maxAge?: Option.Option<number> | undefined
  /** The access token of the same response, for `at_hash`. */
  readonly accessToken?: Redacted.Redacted<string> | undefined
  /** The claims of the sign-in's ID Token (refresh, §12.2). */
  readonly previous?: Option.Option<IdTokenClaims.IdTokenClaims> | undefined
}

/**
 * @example
 * ```ts
 * import { IdTokens } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * const describe = Effect.map(
 *   IdTokens.IdTokens,
 *   (idTokens: IdTokens.Service) => `${idTokens.issuer} signs with ${idTokens.algorithms.join(", ")}`
 * )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  readonly issuer: string
  readonly clientId: string
  readonly metadata: ProviderMetadata.ProviderMetadata
  /** The accepted signing algorithms. */
  readonly algorithms: ReadonlyArray<string>
  readonly jwks: JwksCache.Service
  /** Runs every check of OpenID Connect Core §3.1.3.7 (and §12.2 for a refresh) and returns the claims. */
  readonly validate: (
    idToken: Redacted.Redacted<string>,
    expected: Expected
  ) => Effect.Effect<IdTokenClaims.IdTokenClaims, OAuthError.InvalidIdToken>
  /** The `TokenValidator` that validates the ID Token of every exchange and refresh. */
  readonly validator: TokenValidator.Service
}

/**
 * @example
 * ```ts
 * import { IdTokens } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * const jwksUri = Effect.map(IdTokens.IdTokens, (idTokens) => idTokens.metadata.jwksUri)
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class IdTokens extends Context.Tag("@effect-oauth/oidc/IdTokens")<IdTokens, Service>() {}

type Check = OAuthError.InvalidIdToken["check"]

const symmetric = (alg: string) => /^HS(256|384|512)$/.test(alg)

/** The hash of `at_hash` for a signing algorithm (OpenID Connect Core §3.1.3.6; EdDSA over Ed25519: SHA-512). */
const hashOf = (alg: string): Option.Option<"SHA-256" | "SHA-384" | "SHA-512"> => {
  if (alg === "EdDSA" || alg === "Ed25519") return Option.some("SHA-512")
  if (alg === "ES256K") return Option.some("SHA-256")
  const bits = /^(?:RS|PS|ES|HS)(256|384|512)$/.exec(alg)?.[1]
  return bits === "256" ? Option.some("SHA-256") : bits === "384" ? Option.some("SHA-384") : bits === "512"
    ? Option.some("SHA-512")
    : Option.none()
}

const constantTimeEqual = (a: string, b: string): boolean => {
  const x = new TextEncoder().encode(a)
  const y = new TextEncoder().encode(b)
  let diff = x.length ^ y.length
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0)
  return diff === 0
}

/** The largest ID Token accepted (SPEC S28). */
const maxIdTokenLength = 64 * 1024

type Attempt = { readonly _tag: "Verified"; readonly payload: Uint8Array } | { readonly _tag: "NoKey" }

/**
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { IdTokens, ProviderMetadata } from "@effect-oauth/oidc"
 * import { HttpClient } from "@effect/platform"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * // With the metadata given, nothing is fetched until a token is validated.
 * const metadata = new ProviderMetadata.ProviderMetadata({ issuer: "https://op.example", jwksUri: "https://op.example/jwks" })
 * const program = IdTokens.make({ metadata }).pipe(
 *   Effect.provide(Layer.merge(
 *     OAuthConfig.layer({
 *       clientId: "my-client",
 *       clientSecret: Redacted.make("my-secret"),
 *       authorizationEndpoint: "https://op.example/authorize",
 *       tokenEndpoint: "https://op.example/token",
 *       redirectUri: "http://127.0.0.1:3000/callback",
 *       issuer: "https://op.example"
 *     }),
 *     Layer.succeed(HttpClient.HttpClient, HttpClient.make(() => Effect.die("no request in this example")))
 *   ))
 * )
 * const idTokens = await Effect.runPromise(program)
 * assert.deepStrictEqual(idTokens.algorithms, ["RS256"])
 * assert.strictEqual(idTokens.clientId, "my-client")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  Service,
  OAuthConfig.DiscoveryError | OAuthConfig.InvalidConfig,
  OAuthConfig.OAuthConfig | HttpClient.HttpClient
> =>
  Effect.gen(function*() {
    const config = yield* OAuthConfig.OAuthConfig
    if (Option.isNone(config.issuer)) {
      return yield* new OAuthConfig.InvalidConfig({
        field: "issuer",
        reason: "must be set for OpenID Connect (the ID Token's iss is checked against it)"
      })
    }
    const issuer = config.issuer.value
    const metadata = options.metadata ?? (yield* ProviderMetadata.discover(issuer, options.discovery))
    if (metadata.issuer !== issuer) {
      return yield* new OAuthConfig.InvalidConfig({ field: "metadata", reason: "names another issuer" })
    }
    const algorithms = (options.algorithms ??
      Option.getOrElse(
        Option.filter(
          Option.fromNullable(metadata.idTokenSigningAlgValuesSupported).pipe(
            Option.map((listed) => listed.filter((alg) => !symmetric(alg)))
          ),
          (listed) => listed.length > 0
        ),
        () => ["RS256"]
      )).filter((alg) => alg !== "none")
    if (algorithms.length === 0) {
      return yield* new OAuthConfig.InvalidConfig({
        field: "algorithms",
        reason: "must list an algorithm other than none"
      })
    }
    const jwks = yield* JwksCache.make({
      timeout: config.requestTimeout,
      ...options.jwks,
      uri: metadata.jwksUri
    })
    const skew = Duration.toMillis(options.clockSkew ?? Duration.seconds(30)) / 1000
    const secretKey = new TextEncoder().encode(Redacted.value(config.clientSecret))

    const verifyWith = (
      jwt: string,
      key: Jose.LocalJWKSet | Uint8Array | Jose.CryptoKey,
      alg: string
    ): Effect.Effect<Attempt, Check> =>
      Effect.tryPromise({
        try: () => Jose.compactVerify(jwt, key, { algorithms: [alg] }),
        catch: (error) => error
      }).pipe(
        Effect.map((result): Attempt => ({ _tag: "Verified", payload: result.payload })),
        Effect.catchAll((error): Effect.Effect<Attempt, Check> => {
          if (error instanceof Jose.errors.JWKSNoMatchingKey) return Effect.succeed({ _tag: "NoKey" })
          if (error instanceof Jose.errors.JWKSMultipleMatchingKeys) {
            // Several keys fit the header (no `kid`): the token is good if one of them verifies it.
            return Stream.fromAsyncIterable(error, () => "key" as const).pipe(
              Stream.runCollect,
              Effect.flatMap((keys) =>
                Effect.firstSuccessOf(
                  [...keys].map((candidate) =>
                    Effect.filterOrFail(
                      verifyWith(jwt, candidate, alg),
                      (attempt) => attempt._tag === "Verified",
                      (): Check => "signature"
                    )
                  )
                )
              ),
              Effect.catchAll(() => Effect.fail<Check>("signature"))
            )
          }
          if (error instanceof Jose.errors.JWSSignatureVerificationFailed) return Effect.fail("signature")
          if (error instanceof Jose.errors.JOSEAlgNotAllowed || error instanceof Jose.errors.JOSENotSupported) {
            return Effect.fail("algorithm")
          }
          if (error instanceof Jose.errors.JWKSInvalid || error instanceof Jose.errors.JWKInvalid) {
            return Effect.fail("key")
          }
          return Effect.fail("malformed")
        })
      )

    /**
     * The signature, with the provider's keys: the key set is fetched again once for an unknown key.
     * `Unavailable`: the key set could not be fetched at all.
     */
    const verifySignature = (jwt: string, alg: string): Effect.Effect<Uint8Array, Check | "Unavailable"> => {
      if (symmetric(alg)) {
        return Effect.flatMap(
          verifyWith(jwt, secretKey, alg),
          (attempt) => attempt._tag === "Verified" ? Effect.succeed(attempt.payload) : Effect.fail("key" as const)
        )
      }
      return Effect.gen(function*() {
        const set = yield* Effect.mapError(jwks.get, () => "Unavailable" as const)
        const first = yield* verifyWith(jwt, set, alg)
        if (first._tag === "Verified") return first.payload
        const fresh = yield* Effect.mapError(jwks.refresh(set), () => "Unavailable" as const)
        if (fresh === set) return yield* Effect.fail<Check>("key")
        const second = yield* verifyWith(jwt, fresh, alg)
        return second._tag === "Verified" ? second.payload : yield* Effect.fail<Check>("key")
      })
    }

    const atHash = (alg: string, accessToken: Redacted.Redacted<string>): Effect.Effect<string, Check> =>
      Option.match(hashOf(alg), {
        onNone: () => Effect.fail("at_hash" as const),
        onSome: (hash) =>
          Effect.tryPromise({
            try: () => crypto.subtle.digest(hash, new TextEncoder().encode(Redacted.value(accessToken))),
            catch: (): Check => "at_hash"
          }).pipe(
            Effect.map((digest) => Encoding.encodeBase64Url(new Uint8Array(digest).slice(0, digest.byteLength / 2)))
          )
      })

    const checks = (idToken: Redacted.Redacted<string>, expected: Expected) =>
      Effect.gen(function*() {
        const jwt = Redacted.value(idToken)
        if (jwt.length > maxIdTokenLength || jwt.split(".").length !== 3) return yield* Effect.fail<Check>("malformed")
        const header = yield* Effect.try({
          try: () => Jose.decodeProtectedHeader(jwt),
          catch: (): Check => "malformed"
        })
        const alg = header.alg
        // Never `none`, never an algorithm that is not configured (§3.1.3.7 items 6–8).
        if (typeof alg !== "string" || alg === "none" || !algorithms.includes(alg)) {
          return yield* Effect.fail<Check>("algorithm")
        }
        const payload = yield* verifySignature(jwt, alg).pipe(
          Effect.catchIf(
            (failure) => failure === "Unavailable",
            (): Effect.Effect<Uint8Array, Check> => {
              if (expected.during !== "refresh") return Effect.fail("key")
              // A refresh answer came straight from the token endpoint, over TLS (or on loopback): OpenID
              // Connect Core §3.1.3.7 item 6 lets that stand for the signature. Without it, a key set outage
              // would throw away refresh tokens the server has already rotated; every other check still runs.
              const body = jwt.split(".")[1] ?? ""
              return Either.match(Encoding.decodeBase64Url(body), {
                onLeft: () => Effect.fail<Check>("malformed"),
                onRight: (bytes) =>
                  Effect.as(
                    Effect.logWarning(
                      "ID Token of a refresh accepted without its signature: the provider's JWKS could not be fetched"
                    ),
                    bytes
                  )
              })
            }
          )
        )
        const json = Option.flatMap(
          Option.liftThrowable(() =>
            JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload)) as unknown
          )(),
          (value) =>
            typeof value === "object" && value !== null && !Array.isArray(value)
              ? Option.some(value as Readonly<Record<string, unknown>>)
              : Option.none()
        )
        if (Option.isNone(json)) return yield* Effect.fail<Check>("malformed")
        const claims = yield* Either.match(IdTokenClaims.fromPayload(json.value), {
          onLeft: () => Effect.fail<Check>("malformed"),
          onRight: Effect.succeed
        })
        if (claims.iss !== issuer) return yield* Effect.fail<Check>("issuer")
        if (!claims.audiences.includes(config.clientId)) return yield* Effect.fail<Check>("audience")
        if ((claims.audiences.length > 1 || claims.azp !== undefined) && claims.azp !== config.clientId) {
          return yield* Effect.fail<Check>("azp")
        }
        const now = (yield* Clock.currentTimeMillis) / 1000
        if (claims.exp + skew <= now) return yield* Effect.fail<Check>("expired")
        if (claims.iat > now + skew) return yield* Effect.fail<Check>("issued-at")
        const previous = Option.flatten(Option.fromNullable(expected.previous))
        if (expected.during === "exchange") {
          const nonce = Option.flatten(Option.fromNullable(expected.nonce))
          if (
            Option.isSome(nonce) &&
            (claims.nonce === undefined || !constantTimeEqual(claims.nonce, Redacted.value(nonce.value)))
          ) {
            return yield* Effect.fail<Check>("nonce")
          }
          const maxAge = Option.flatten(Option.fromNullable(expected.maxAge))
          if (
            Option.isSome(maxAge) && (claims.auth_time === undefined || claims.auth_time + maxAge.value + skew < now)
          ) {
            return yield* Effect.fail<Check>("auth_time")
          }
        } else if (claims.nonce !== undefined && Option.isSome(previous) && claims.nonce !== previous.value.nonce) {
          // §12.2: a refreshed ID Token should have no nonce; if it has one, it is the sign-in's.
          return yield* Effect.fail<Check>("nonce")
        }
        if (claims.at_hash !== undefined && expected.accessToken !== undefined) {
          const expectedHash = yield* atHash(alg, expected.accessToken)
          if (!constantTimeEqual(claims.at_hash, expectedHash)) return yield* Effect.fail<Check>("at_hash")
        }
        if (Option.isSome(previous)) {
          // §12.2: the same user, issuer, audience and authorized party as at the sign-in.
          const before = previous.value
          const sameAudience = before.audiences.length === claims.audiences.length &&
            before.audiences.every((aud) => claims.audiences.includes(aud))
          if (claims.sub !== before.sub || claims.iss !== before.iss || !sameAudience || claims.azp !== before.azp) {
            return yield* Effect.fail<Check>("subject")
          }
        }
        return claims
      })

    const validate = Effect.fn("IdTokens.validate")(
      function*(idToken: Redacted.Redacted<string>, expected: Expected) {
        yield* Effect.annotateCurrentSpan("oidc.during", expected.during)
        return yield* Effect.mapError(
          checks(idToken, expected),
          (check) => new OAuthError.InvalidIdToken({ check, during: expected.during })
        )
      }
    )

    const validator: TokenValidator.Service = {
      exchange: (tokens: TokenSet.TokenSet, pending: PendingAuthorization.PendingAuthorization) =>
        Option.match(tokens.idToken, {
          onNone: () =>
            pending.scopes.includes("openid")
              ? Effect.fail(new OAuthError.InvalidIdToken({ check: "missing", during: "exchange" }))
              : Effect.void,
          onSome: (idToken) =>
            Effect.asVoid(
              validate(idToken, {
                during: "exchange",
                nonce: pending.nonce,
                maxAge: pending.maxAge,
                accessToken: tokens.accessToken
              })
            )
        }),
      refresh: (tokens: TokenSet.TokenSet, previous: Option.Option<TokenSet.TokenSet>) => {
        if (Option.isNone(tokens.idToken)) return Effect.void
        const idToken = tokens.idToken.value
        const kept = Option.exists(
          Option.flatMap(previous, (before) => before.idToken),
          (before) => Redacted.value(before) === Redacted.value(idToken)
        )
        // A response without an ID Token keeps the sign-in's, which was validated then.
        if (kept) return Effect.void
        return Effect.asVoid(
          validate(idToken, {
            during: "refresh",
            accessToken: tokens.accessToken,
            previous: Option.flatMap(previous, IdTokenClaims.fromTokenSet)
          })
        )
      }
    }

    return IdTokens.of({ issuer, clientId: config.clientId, metadata, algorithms, jwks, validate, validator })
  })

/**
 * The ID Token validation and its key set cache.
 *
 * @example
 * ```ts
 * import { OAuthConfig } from "@effect-oauth/core"
 * import { IdTokens } from "@effect-oauth/oidc"
 * import { FetchHttpClient } from "@effect/platform"
 * import { Layer, Redacted } from "effect"
 *
 * // Discovers the provider's metadata from the configured issuer when the layer is built.
 * const IdTokensLive = IdTokens.layer().pipe(
 *   Layer.provide(OAuthConfig.layerDiscovery("https://accounts.example.com", {
 *     clientId: "my-client",
 *     clientSecret: Redacted.make("my-secret"),
 *     redirectUri: "http://127.0.0.1:3000/callback",
 *     scopes: ["openid"]
 *   })),
 *   Layer.provide(FetchHttpClient.layer)
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options?: Options
): Layer.Layer<
  IdTokens | JwksCache.JwksCache,
  OAuthConfig.DiscoveryError | OAuthConfig.InvalidConfig,
  OAuthConfig.OAuthConfig | HttpClient.HttpClient
> =>
  Layer.effectContext(
    Effect.map(make(options), (service) =>
      Context.make(IdTokens, service).pipe(Context.add(JwksCache.JwksCache, service.jwks)))
  )

/**
 * The `TokenValidator` of `IdTokens`: provide it to the `OAuthClient` layer.
 *
 * @example
 * ```ts
 * import { OAuthClient } from "@effect-oauth/core"
 * import { IdTokens } from "@effect-oauth/oidc"
 * import { Layer } from "effect"
 *
 * // What `IdTokens.layerOAuthClient` does: the client validates each ID Token it receives.
 * const ClientLive = OAuthClient.layer.pipe(
 *   Layer.provide(IdTokens.layerValidator),
 *   Layer.provideMerge(IdTokens.layer())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerValidator: Layer.Layer<TokenValidator.TokenValidator, never, IdTokens> = Layer.effect(
  TokenValidator.TokenValidator,
  Effect.map(IdTokens, (service) => service.validator)
)

/**
 * An `OAuthClient` that validates the ID Token of every exchange and refresh, with `IdTokens` and its
 * key set cache.
 *
 * @example
 * ```ts
 * import { AccessTokens, OAuthConfig, TokenStore } from "@effect-oauth/core"
 * import { IdTokens } from "@effect-oauth/oidc"
 * import { Layer, Redacted } from "effect"
 *
 * // Every sign-in and refresh checks its ID Token; the provider's keys come from its discovery document.
 * export const TokensLive = AccessTokens.layer().pipe(
 *   Layer.provideMerge(TokenStore.layerMemory),
 *   Layer.provideMerge(IdTokens.layerOAuthClient({ clockSkew: "10 seconds" })),
 *   Layer.provideMerge(OAuthConfig.layerDiscovery("https://accounts.example.com", {
 *     clientId: "my-client",
 *     clientSecret: Redacted.make("my-secret"),
 *     redirectUri: "http://127.0.0.1:3000/callback",
 *     scopes: ["openid", "email"]
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerOAuthClient = (
  options?: Options
): Layer.Layer<
  OAuthClient.OAuthClient | IdTokens | JwksCache.JwksCache,
  OAuthConfig.DiscoveryError | OAuthConfig.InvalidConfig,
  OAuthConfig.OAuthConfig | HttpClient.HttpClient
> => OAuthClient.layer.pipe(Layer.provide(layerValidator), Layer.provideMerge(layer(options)))
