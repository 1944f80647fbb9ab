/**
 * Authorization server metadata discovery (RFC 8414, OpenID Connect Discovery 1.0; SPEC S27, S31):
 * the metadata schema, the well-known URLs, fetching and checking a document, and completing client
 * options from it. `OAuthConfig.layerDiscovery` builds a configuration from it.
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Endpoint from "./internal/endpoint.js"
import * as Text from "./internal/text.js"
import type * as OAuthConfig from "./OAuthConfig.js"
import { DiscoveryError, type ErrorResponse, type HttpError } from "./OAuthError.js"
import * as ServerExchange from "./ServerExchange.js"

/**
 * The authorization server metadata this library uses (RFC 8414 §2, RFC 9207 §3), decoded from the
 * snake_case JSON document; unknown fields are ignored.
 *
 * @example
 * ```ts
 * import { Discovery } from "@effect-oauth/core"
 * import { Schema } from "effect"
 *
 * const metadata = Schema.decodeUnknownSync(Discovery.AuthorizationServerMetadata)({
 *   issuer: "https://auth.example.com",
 *   authorization_endpoint: "https://auth.example.com/authorize",
 *   token_endpoint: "https://auth.example.com/token",
 *   code_challenge_methods_supported: ["S256"]
 * })
 * assert.strictEqual(metadata.tokenEndpoint, "https://auth.example.com/token")
 * assert.deepStrictEqual(metadata.codeChallengeMethodsSupported, ["S256"])
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export class AuthorizationServerMetadata
  extends Schema.Class<AuthorizationServerMetadata>("@effect-oauth/core/AuthorizationServerMetadata")({
    issuer: Schema.String,
    authorizationEndpoint: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("authorization_endpoint")),
    tokenEndpoint: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("token_endpoint")),
    revocationEndpoint: Schema.optional(Schema.String).pipe(Schema.fromKey("revocation_endpoint")),
    scopesSupported: Schema.optional(Schema.Array(Schema.String)).pipe(Schema.fromKey("scopes_supported")),
    codeChallengeMethodsSupported: Schema.optional(Schema.Array(Schema.String)).pipe(
      Schema.fromKey("code_challenge_methods_supported")
    ),
    tokenEndpointAuthMethodsSupported: Schema.optional(Schema.Array(Schema.String)).pipe(
      Schema.fromKey("token_endpoint_auth_methods_supported")
    ),
    authorizationResponseIssParameterSupported: Schema.optional(Schema.Boolean).pipe(
      Schema.fromKey("authorization_response_iss_parameter_supported")
    )
  })
{}

/**
 * @example
 * ```ts
 * import { Discovery } from "@effect-oauth/core"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A server that publishes no metadata.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(HttpClientResponse.fromWeb(request, new Response("not found", { status: 404 })))
 * )
 * // Only RFC 8414, with a short deadline.
 * const options: Discovery.DiscoverOptions = { openIdFallback: false, timeout: "5 seconds" }
 * const error = await Effect.runPromise(
 *   Effect.flip(Discovery.discover("https://auth.example.com", options)).pipe(
 *     Effect.provideService(HttpClient.HttpClient, server)
 *   )
 * )
 * assert.strictEqual(error.reason, "NotFound")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoverOptions {
  /** Try `{issuer}/.well-known/openid-configuration` when the RFC 8414 document is 404; default `true`. */
  readonly openIdFallback?: boolean | undefined
  /** The deadline of each metadata request, body included (SPEC S32); default 30 seconds. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * What a user writes when the endpoints come from discovery: the client's own settings; the endpoints
 * and the issuer may be given to override the discovered ones.
 *
 * @example
 * ```ts
 * import { Discovery } from "@effect-oauth/core"
 * import { Redacted } from "effect"
 *
 * // The endpoints come from the metadata; only the client's own settings are written.
 * const client: Discovery.DiscoveredOptions = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["openid"]
 * }
 * assert.strictEqual(client.clientId, "my-client")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type DiscoveredOptions =
  & Omit<OAuthConfig.Options, "authorizationEndpoint" | "tokenEndpoint" | "revocationEndpoint" | "issuer">
  & Partial<Pick<OAuthConfig.Options, "authorizationEndpoint" | "tokenEndpoint" | "revocationEndpoint" | "issuer">>

/**
 * The RFC 8414 metadata URL of an issuer (the well-known segment goes between the host and the issuer's
 * path, §3.1; a terminating "/" of the path is removed first) and its OpenID Connect Discovery URL
 * (appended to the issuer).
 *
 * @example
 * ```ts
 * import { Discovery } from "@effect-oauth/core"
 *
 * const urls = Discovery.wellKnownUrls(new URL("https://auth.example.com/tenant-1"))
 * assert.strictEqual(urls.oauth.href, "https://auth.example.com/.well-known/oauth-authorization-server/tenant-1")
 * assert.strictEqual(urls.openid.href, "https://auth.example.com/tenant-1/.well-known/openid-configuration")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const wellKnownUrls = (issuer: URL): { readonly oauth: URL; readonly openid: URL } => {
  const path = issuer.pathname.replace(/\/+$/, "")
  return {
    oauth: new URL(`${issuer.origin}/.well-known/oauth-authorization-server${path}`),
    openid: new URL(`${issuer.origin}${path}/.well-known/openid-configuration`)
  }
}

type Failure = Omit<ConstructorParameters<typeof DiscoveryError>[0], "issuer">

const fromHttp = (url: URL) => (error: HttpError | ErrorResponse): Failure =>
  error._tag === "ErrorResponse"
    ? { reason: "Status", url: url.href, status: error.status }
    : {
      reason: error.reason,
      url: url.href,
      ...(error.status === undefined ? {} : { status: error.status }),
      ...(error.detail === undefined ? {} : { detail: error.detail })
    }

const decodeMetadata = Schema.decodeUnknown(AuthorizationServerMetadata)

/** Checks a 200 document: a JSON object, the schema, the issuer, the endpoints. */
const readDocument = (issuer: string, url: URL, response: ServerExchange.Response) =>
  Effect.gen(function*() {
    const json = yield* Effect.mapError(ServerExchange.jsonObject(response, "discovery"), fromHttp(url))
    const metadata = yield* decodeMetadata(json, { errors: "all", onExcessProperty: "ignore" }).pipe(
      Effect.mapError((error): Failure => ({
        reason: "InvalidMetadata",
        url: url.href,
        detail: Text.parseIssues(error, "document").join("; ")
      }))
    )
    if (metadata.issuer !== issuer) {
      return yield* Effect.fail<Failure>({
        reason: "IssuerMismatch",
        url: url.href,
        detail: Text.quote(metadata.issuer, Text.maxTextLength)
      })
    }
    const endpoints = [
      ["authorization_endpoint", metadata.authorizationEndpoint],
      ["token_endpoint", metadata.tokenEndpoint],
      ["revocation_endpoint", metadata.revocationEndpoint]
    ] as const
    for (const [field, value] of endpoints) {
      if (value === undefined) continue
      const checked = Endpoint.validateEndpoint(value)
      if (Either.isLeft(checked)) {
        return yield* Effect.fail<Failure>({
          reason: "InsecureEndpoint",
          url: url.href,
          detail: `${field} ${checked.left}`
        })
      }
    }
    return metadata
  })

/**
 * Fetches and checks the metadata of an issuer (SPEC S31): `/.well-known/oauth-authorization-server`
 * per RFC 8414 §3.1, then, when that is 404, `/.well-known/openid-configuration`. The document must name
 * exactly the issuer asked for, and its endpoints must be https except on loopback hosts (SPEC S27).
 * Each request has one deadline over headers and body (SPEC S32); bodies are read up to 1 MiB and never
 * shown in errors.
 *
 * @example
 * ```ts
 * import { Discovery } from "@effect-oauth/core"
 * import { Effect } from "effect"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 *
 * // A fake authorization server that serves its RFC 8414 document.
 * const document = {
 *   issuer: "https://auth.example.com",
 *   authorization_endpoint: "https://auth.example.com/authorize",
 *   token_endpoint: "https://auth.example.com/token",
 *   token_endpoint_auth_methods_supported: ["client_secret_post"]
 * }
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(JSON.stringify(document), { status: 200, headers: { "content-type": "application/json" } })
 *     )
 *   )
 * )
 *
 * const metadata = await Effect.runPromise(
 *   Discovery.discover("https://auth.example.com").pipe(Effect.provideService(HttpClient.HttpClient, server))
 * )
 * assert.strictEqual(metadata.authorizationEndpoint, "https://auth.example.com/authorize")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover: (
  issuer: string,
  options?: DiscoverOptions
) => Effect.Effect<AuthorizationServerMetadata, DiscoveryError, HttpClient.HttpClient> = Effect.fn(
  "OAuthConfig.discover"
)(function*(issuer: string, options?: DiscoverOptions) {
  const fail = (failure: Failure) => new DiscoveryError({ issuer, ...failure })
  const checked = Endpoint.validateEndpoint(issuer)
  if (Either.isLeft(checked)) return yield* fail({ reason: "InvalidIssuer", detail: checked.left })
  if (issuer.includes("?") || issuer.includes("#")) {
    return yield* fail({ reason: "InvalidIssuer", detail: "must not contain a query or fragment" })
  }
  const exchange = ServerExchange.make(yield* HttpClient.HttpClient, {
    timeout: options?.timeout ?? Duration.seconds(30)
  })
  const urls = wellKnownUrls(checked.right)
  const candidates = options?.openIdFallback === false ? [urls.oauth] : [urls.oauth, urls.openid]
  for (const url of candidates) {
    const response = yield* exchange.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.acceptJson), "discovery")
      .pipe(Effect.mapError((error) => fail(fromHttp(url)(error))))
    if (response.status === 404) continue
    if (response.status !== 200) return yield* fail({ reason: "Status", url: url.href, status: response.status })
    return yield* Effect.mapError(readDocument(issuer, url, response), fail)
  }
  return yield* fail({
    reason: "NotFound",
    detail: `${candidates.map((url) => url.href).join(" and ")} answered 404`
  })
})

const supportedMethods = ["client_secret_basic", "client_secret_post"] as const

/**
 * Completes client options from metadata: the endpoints and the issuer; `requireIssuerParameter` when
 * the server announces RFC 9207 `iss`; and, when the client names none, a client authentication method
 * the server supports (`client_secret_basic` first, as RFC 8414 assumes when the list is absent). Values
 * given in `client` win.
 *
 * @example
 * ```ts
 * import { Discovery } from "@effect-oauth/core"
 * import { Either, Redacted, Schema } from "effect"
 *
 * const metadata = Schema.decodeUnknownSync(Discovery.AuthorizationServerMetadata)({
 *   issuer: "https://auth.example.com",
 *   authorization_endpoint: "https://auth.example.com/authorize",
 *   token_endpoint: "https://auth.example.com/token",
 *   token_endpoint_auth_methods_supported: ["client_secret_post"],
 *   authorization_response_iss_parameter_supported: true
 * })
 * const options = Discovery.fromMetadata(metadata, {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   redirectUri: "https://app.example.com/oauth/callback"
 * })
 * assert.ok(Either.isRight(options))
 * assert.strictEqual(options.right.clientAuthMethod, "client_secret_post")
 * assert.strictEqual(options.right.requireIssuerParameter, true)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromMetadata = (
  metadata: AuthorizationServerMetadata,
  client: DiscoveredOptions
): Either.Either<OAuthConfig.Options, DiscoveryError> => {
  let clientAuthMethod = client.clientAuthMethod
  if (clientAuthMethod === undefined) {
    const listed = metadata.tokenEndpointAuthMethodsSupported
    clientAuthMethod = listed === undefined
      ? "client_secret_basic"
      : supportedMethods.find((method) => listed.includes(method))
    if (clientAuthMethod === undefined) {
      return Either.left(
        new DiscoveryError({
          issuer: metadata.issuer,
          reason: "UnsupportedAuthMethod",
          detail: `it lists ${Text.sanitize(listed?.join(", ") || "none")}`
        })
      )
    }
  }
  return Either.right({
    ...client,
    authorizationEndpoint: client.authorizationEndpoint ?? metadata.authorizationEndpoint,
    tokenEndpoint: client.tokenEndpoint ?? metadata.tokenEndpoint,
    revocationEndpoint: client.revocationEndpoint ?? metadata.revocationEndpoint,
    issuer: client.issuer ?? metadata.issuer,
    requireIssuerParameter: client.requireIssuerParameter ??
      metadata.authorizationResponseIssParameterSupported === true,
    clientAuthMethod
  })
}
