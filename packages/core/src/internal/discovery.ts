/**
 * Authorization server metadata discovery (RFC 8414, OpenID Connect Discovery 1.0; SPEC S27, S31).
 *
 * Bindings of `../OAuthConfig.js` are used only inside functions: that module imports this one.
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as OAuthConfig from "../OAuthConfig.js"
import type { ErrorResponse, HttpError } from "../OAuthError.js"
import * as Http from "./http.js"

/** RFC 8414 §3.1 and OpenID Connect Discovery 1.0 §4: a terminating "/" of the issuer's path is removed first. */
export const wellKnownUrls = (issuer: URL): { readonly oauth: URL; readonly openid: URL } => {
  const path = issuer.pathname.replace(/\/+$/, "")
  return {
    oauth: new URL(`${issuer.origin}/.well-known/oauth-authorization-server${path}`),
    openid: new URL(`${issuer.origin}${path}/.well-known/openid-configuration`)
  }
}

type Failure = Omit<ConstructorParameters<typeof OAuthConfig.DiscoveryError>[0], "issuer">

const fromHttp = (url: URL) => (error: HttpError | ErrorResponse): Failure =>
  error._tag === "ErrorResponse"
    ? { reason: "Status", url: url.href, status: error.status }
    : {
      reason: error.reason,
      url: url.href,
      ...Http.optionalFields({ status: error.status, detail: error.detail })
    }

const describeIssue = (issue: ParseResult.ArrayFormatterIssue): string => {
  const path = issue.path.length === 0 ? "document" : issue.path.map(String).join(".")
  return issue._tag === "Missing" ? `${path} is missing` : `${path} is invalid`
}

/** One metadata request: the response, or a failure without the body (SPEC S16, S28). */
const fetchDocument = (
  client: HttpClient.HttpClient,
  url: URL,
  timeout: Duration.DurationInput
): Effect.Effect<HttpClientResponse.HttpClientResponse, Failure> =>
  client.execute(HttpClientRequest.get(url).pipe(HttpClientRequest.acceptJson)).pipe(
    Effect.timeoutFail({ duration: timeout, onTimeout: (): Failure => ({ reason: "Timeout", url: url.href }) }),
    Effect.catchTags({
      RequestError: (error) => Effect.fail<Failure>({ reason: "Transport", url: url.href, detail: error.reason }),
      ResponseError: (error) => Effect.fail<Failure>({ reason: "Transport", url: url.href, detail: error.reason })
    })
  )

/** Reads and checks a 200 document: a JSON object (at most 1 MiB), the schema, the issuer, the endpoints. */
const readDocument = (issuer: string, url: URL, response: HttpClientResponse.HttpClientResponse) =>
  Effect.gen(function*() {
    const json = yield* Effect.mapError(Http.readJsonObject(response, "discovery"), fromHttp(url))
    const metadata = yield* Schema.decodeUnknown(OAuthConfig.AuthorizationServerMetadata)(json, {
      errors: "all",
      onExcessProperty: "ignore"
    }).pipe(
      Effect.catchTag(
        "ParseError",
        (error) =>
          Effect.flatMap(
            ParseResult.ArrayFormatter.formatError(error),
            (issues): Effect.Effect<never, Failure> =>
              Effect.fail({
                reason: "InvalidMetadata",
                url: url.href,
                detail: Array.from(new Set(issues.map(describeIssue))).join("; ")
              })
          )
      )
    )
    if (metadata.issuer !== issuer) {
      return yield* Effect.fail<Failure>({
        reason: "IssuerMismatch",
        url: url.href,
        detail: JSON.stringify(Http.boundedText(metadata.issuer))
      })
    }
    const endpoints = [
      ["authorization_endpoint", metadata.authorizationEndpoint],
      ["token_endpoint", metadata.tokenEndpoint],
      ["revocation_endpoint", metadata.revocationEndpoint]
    ] as const
    for (const [field, value] of endpoints) {
      if (value === undefined) continue
      const checked = OAuthConfig.validateEndpoint(value)
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

/** Drains a response that is not used, within the body bound, ignoring failures. */
const discard = (response: HttpClientResponse.HttpClientResponse) => Effect.ignore(Http.readBody(response, "discovery"))

export const discover = Effect.fn("OAuthConfig.discover")(
  function*(issuer: string, options?: OAuthConfig.DiscoverOptions) {
    const fail = (failure: Failure) => new OAuthConfig.DiscoveryError({ issuer, ...failure })
    const checked = OAuthConfig.validateEndpoint(issuer)
    if (Either.isLeft(checked)) return yield* fail({ reason: "InvalidIssuer", detail: checked.left })
    if (issuer.includes("?") || issuer.includes("#")) {
      return yield* fail({ reason: "InvalidIssuer", detail: "must not contain a query or fragment" })
    }
    const timeout = options?.timeout ?? Duration.seconds(30)
    const client = yield* HttpClient.HttpClient
    const urls = wellKnownUrls(checked.right)
    const candidates = options?.openIdFallback === false ? [urls.oauth] : [urls.oauth, urls.openid]
    for (const url of candidates) {
      const response = yield* Effect.mapError(fetchDocument(client, url, timeout), fail)
      if (response.status === 404) {
        yield* discard(response)
        continue
      }
      if (response.status !== 200) {
        yield* discard(response)
        return yield* fail({ reason: "Status", url: url.href, status: response.status })
      }
      return yield* Effect.mapError(readDocument(issuer, url, response), fail)
    }
    return yield* fail({
      reason: "NotFound",
      detail: `${candidates.map((url) => url.href).join(" and ")} answered 404`
    })
  }
)

const supportedMethods = ["client_secret_basic", "client_secret_post"] as const

export const fromMetadata = (
  metadata: OAuthConfig.AuthorizationServerMetadata,
  client: OAuthConfig.DiscoveredOptions
): Either.Either<OAuthConfig.Options, OAuthConfig.DiscoveryError> => {
  const defined = Object.fromEntries(Object.entries(client).filter(([, value]) => value !== undefined)) as
    & Pick<OAuthConfig.Options, "clientId" | "clientSecret" | "redirectUri">
    & Partial<OAuthConfig.Options>
  let clientAuthMethod = client.clientAuthMethod
  if (clientAuthMethod === undefined) {
    const listed = metadata.tokenEndpointAuthMethodsSupported
    clientAuthMethod = listed === undefined
      ? "client_secret_basic"
      : supportedMethods.find((method) => listed.includes(method))
    if (clientAuthMethod === undefined) {
      return Either.left(
        new OAuthConfig.DiscoveryError({
          issuer: metadata.issuer,
          reason: "UnsupportedAuthMethod",
          detail: `it lists ${Http.boundedText(listed?.join(", ") || "none")}`
        })
      )
    }
  }
  return Either.right({
    authorizationEndpoint: metadata.authorizationEndpoint,
    tokenEndpoint: metadata.tokenEndpoint,
    ...Http.optionalFields({ revocationEndpoint: metadata.revocationEndpoint }),
    issuer: metadata.issuer,
    requireIssuerParameter: metadata.authorizationResponseIssParameterSupported === true,
    ...defined,
    clientAuthMethod
  })
}
