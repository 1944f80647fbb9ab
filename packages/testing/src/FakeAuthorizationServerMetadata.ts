/**
 * Where the fake authorization server answers and how it says so: the absolute URLs of its endpoints
 * (`Endpoints`, computed by `endpoints`), the authorization server metadata document it serves
 * (`metadataDocument`, RFC 8414 §2), and which well-known documents it serves (`MetadataMode`).
 *
 * @since 0.1.0
 */
import type * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"
import * as internalOptions from "./internal/fakeServer/options.js"

// -----------------------------------------------------------------------------
// models
// -----------------------------------------------------------------------------

/**
 * Which authorization server metadata documents the fake serves: RFC 8414's
 * `/.well-known/oauth-authorization-server`, OpenID Connect Discovery's `/.well-known/openid-configuration`,
 * both, or none.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerMetadata } from "@effect-oauth/testing"
 *
 * // A provider that publishes only RFC 8414 metadata, to test a client's discovery fallback.
 * const metadata: FakeAuthorizationServerMetadata.MetadataMode = "oauth"
 * const options = FakeAuthorizationServer.makeOptions({ metadata })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type MetadataMode = "oauth" | "openid" | "both" | "none"

/**
 * Absolute URLs of the fake server's endpoints.
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerMetadata } from "@effect-oauth/testing"
 *
 * const urls: FakeAuthorizationServerMetadata.Endpoints = FakeAuthorizationServerMetadata.endpoints(
 *   FakeAuthorizationServer.makeOptions({ issuer: "https://auth.example.com/tenant" })
 * )
 * assert.strictEqual(urls.oauthMetadata, "https://auth.example.com/.well-known/oauth-authorization-server/tenant")
 * assert.strictEqual(urls.openIdConfiguration, "https://auth.example.com/tenant/.well-known/openid-configuration")
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Endpoints {
  readonly issuer: string
  readonly authorization: string
  readonly token: string
  readonly revocation: string
  readonly apiBase: string
  /** Where RFC 8414 metadata lives: the well-known segment goes between the host and the issuer's path (§3.1). */
  readonly oauthMetadata: string
  /** Where OpenID Connect Discovery metadata lives: appended to the issuer. */
  readonly openIdConfiguration: string
}

// -----------------------------------------------------------------------------
// utils
// -----------------------------------------------------------------------------

/**
 * Computes the endpoints of a configuration (`issuer` + path).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerMetadata } from "@effect-oauth/testing"
 *
 * const urls = FakeAuthorizationServerMetadata.endpoints(FakeAuthorizationServer.defaultOptions)
 * assert.strictEqual(urls.token, "https://app.credal.ai/api/oauth/token")
 * assert.strictEqual(urls.apiBase, "https://app.credal.ai/api/v1")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const endpoints: (options: FakeAuthorizationServer.Options) => Endpoints = internalOptions.endpoints

/**
 * The authorization server metadata document the fake serves (RFC 8414 §2, with RFC 9207's
 * `authorization_response_iss_parameter_supported` following `includeIssInCallback`).
 *
 * @example
 * ```ts
 * import { FakeAuthorizationServer, FakeAuthorizationServerMetadata } from "@effect-oauth/testing"
 *
 * const document = FakeAuthorizationServerMetadata.metadataDocument(FakeAuthorizationServer.defaultOptions)
 * assert.strictEqual(document.issuer, "https://app.credal.ai")
 * assert.strictEqual(document.token_endpoint, "https://app.credal.ai/api/oauth/token")
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const metadataDocument: (options: FakeAuthorizationServer.Options) => Readonly<Record<string, unknown>> =
  internalOptions.metadataDocument
