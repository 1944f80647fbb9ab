/**
 * What an OpenID provider publishes that this package uses (OpenID Connect Discovery 1.0 §3): its
 * `jwks_uri`, `userinfo_endpoint` and `id_token_signing_alg_values_supported`, read from
 * `{issuer}/.well-known/openid-configuration` under one deadline and a size limit (SPEC S31, S32).
 *
 * @since 0.1.0
 */
import { OAuthConfig, OAuthError } from "@effect-oauth/core"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Fetch from "./internal/fetch.js"

/**
 * @example
 * ```ts
 * import { ProviderMetadata } from "@effect-oauth/oidc"
 * import { Schema } from "effect"
 *
 * // Decoded from the discovery document's own field names; other fields are ignored.
 * const metadata = Schema.decodeUnknownSync(ProviderMetadata.ProviderMetadata)({
 *   issuer: "https://op.example",
 *   jwks_uri: "https://op.example/jwks",
 *   userinfo_endpoint: "https://op.example/userinfo",
 *   id_token_signing_alg_values_supported: ["RS256"]
 * })
 * assert.strictEqual(metadata.jwksUri, "https://op.example/jwks")
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export class ProviderMetadata extends Schema.Class<ProviderMetadata>("@effect-oauth/oidc/ProviderMetadata")({
  issuer: Schema.String,
  jwksUri: Schema.propertySignature(Schema.String).pipe(Schema.fromKey("jwks_uri")),
  userinfoEndpoint: Schema.optional(Schema.String).pipe(Schema.fromKey("userinfo_endpoint")),
  idTokenSigningAlgValuesSupported: Schema.optional(Schema.Array(Schema.String)).pipe(
    Schema.fromKey("id_token_signing_alg_values_supported")
  )
}) {}

/**
 * @example
 * ```ts
 * import { ProviderMetadata } from "@effect-oauth/oidc"
 *
 * const options: ProviderMetadata.DiscoverOptions = { timeout: "5 seconds" }
 * const program = ProviderMetadata.discover("https://accounts.example.com", options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface DiscoverOptions {
  /** The deadline of the whole request, body included; default 30 seconds (SPEC S32). */
  readonly timeout?: Duration.DurationInput | undefined
}

const bounded = (text: string): string => text.length > 200 ? `${text.slice(0, 200)}…` : text

/**
 * Fetches and checks the OpenID provider metadata of `issuer`: the document must name exactly that
 * issuer, and its `jwks_uri` and `userinfo_endpoint` must be https except on loopback hosts (SPEC S27).
 *
 * @example
 * ```ts
 * import { ProviderMetadata } from "@effect-oauth/oidc"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { Effect } from "effect"
 *
 * // A provider faked in memory; in an application, provide `FetchHttpClient.layer` or `NodeHttpClient.layer`.
 * const provider = HttpClient.make((request) =>
 *   Effect.succeed(HttpClientResponse.fromWeb(
 *     request,
 *     Response.json({ issuer: "https://op.example", jwks_uri: "https://op.example/jwks" })
 *   ))
 * )
 * const program = ProviderMetadata.discover("https://op.example").pipe(
 *   Effect.provideService(HttpClient.HttpClient, provider)
 * )
 * const metadata = await Effect.runPromise(program)
 * assert.strictEqual(metadata.jwksUri, "https://op.example/jwks")
 * assert.strictEqual(metadata.userinfoEndpoint, undefined)
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const discover = Effect.fn("ProviderMetadata.discover")(
  function*(issuer: string, options?: DiscoverOptions) {
    const fail = (failure: Omit<ConstructorParameters<typeof OAuthConfig.DiscoveryError>[0], "issuer">) =>
      new OAuthConfig.DiscoveryError({ issuer, ...failure })
    const checked = OAuthConfig.validateEndpoint(issuer)
    if (Either.isLeft(checked)) return yield* fail({ reason: "InvalidIssuer", detail: checked.left })
    if (issuer.includes("?") || issuer.includes("#")) {
      return yield* fail({ reason: "InvalidIssuer", detail: "must not contain a query or fragment" })
    }
    const url = OAuthConfig.wellKnownUrls(checked.right).openid
    const client = yield* HttpClient.HttpClient
    const document = yield* Fetch.getJson(client, url, {
      endpoint: "discovery",
      timeout: options?.timeout ?? Fetch.defaultTimeout
    }).pipe(
      Effect.mapError((failure) => fail({ url: url.href, ...failure }))
    )
    if (document.status === 404) return yield* fail({ reason: "NotFound", url: url.href, status: 404 })
    if (document.status !== 200) return yield* fail({ reason: "Status", url: url.href, status: document.status })
    if (Option.isNone(document.json)) return yield* fail({ reason: "Body", url: url.href })
    const metadata = yield* Schema.decodeUnknown(ProviderMetadata)(document.json.value, {
      errors: "all",
      onExcessProperty: "ignore"
    }).pipe(
      // One bounded, iterative formatter for every decode error (SPEC S34): a deeply nested document
      // cannot make the message unbounded or the formatting recurse without end.
      Effect.catchTag(
        "ParseError",
        (error) =>
          fail({ reason: "InvalidMetadata", url: url.href, detail: OAuthError.describeParseError(error, "document") })
      )
    )
    if (metadata.issuer !== issuer) {
      return yield* fail({ reason: "IssuerMismatch", url: url.href, detail: JSON.stringify(bounded(metadata.issuer)) })
    }
    for (const [field, value] of [["jwks_uri", metadata.jwksUri], ["userinfo_endpoint", metadata.userinfoEndpoint]]) {
      if (value === undefined) continue
      const endpoint = OAuthConfig.validateEndpoint(value)
      if (Either.isLeft(endpoint)) {
        return yield* fail({ reason: "InsecureEndpoint", url: url.href, detail: `${field} ${endpoint.left}` })
      }
    }
    return metadata
  }
)
