/**
 * Client authentication at the token and revocation endpoints (RFC 6749 §2.3.1): Basic or body credentials, never both, and the checks both form endpoints share.
 *
 * @internal
 */
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Client, ClientAuthMethod } from "../../FakeAuthorizationServer.js"
import * as internal from "../fakeAuthorizationServer.js"
import { type Incoming, oauthError, type Outcome, type ServerContext } from "./state.js"

export const make = (server: ServerContext) => {
  const { clients, opts } = server
  const invalidClient = (description: string) =>
    oauthError(401, "invalid_client", description, { "www-authenticate": `Basic realm="${opts.realm}"` })

  const authenticate = (
    req: Incoming
  ): Either.Either<{ readonly client: Client; readonly method: ClientAuthMethod }, Outcome> => {
    const authorization = req.headers["authorization"]
    const bodySecret = req.form.record["client_secret"]
    const bodyId = req.form.record["client_id"]
    let credentials: { readonly clientId: string; readonly clientSecret: string }
    let method: ClientAuthMethod
    if (authorization !== undefined) {
      if (!/^basic /i.test(authorization)) {
        return Either.left(invalidClient("unsupported authorization scheme for client authentication"))
      }
      if (bodySecret !== undefined) {
        return Either.left(
          oauthError(400, "invalid_request", "more than one client authentication method was used")
        )
      }
      const decoded = internal.decodeBasicCredentials(authorization)
      if (Option.isNone(decoded)) {
        return Either.left(invalidClient("malformed Basic credentials (RFC 6749 §2.3.1 form-urlencoding)"))
      }
      if (bodyId !== undefined && bodyId !== decoded.value.clientId) {
        return Either.left(oauthError(400, "invalid_request", "client_id in the body differs from Basic credentials"))
      }
      credentials = decoded.value
      method = "client_secret_basic"
    } else if (bodySecret !== undefined) {
      if (bodyId === undefined) return Either.left(invalidClient("client_secret without client_id"))
      credentials = { clientId: bodyId, clientSecret: bodySecret }
      method = "client_secret_post"
    } else {
      return Either.left(invalidClient("client authentication is required"))
    }
    const client = clients.get(credentials.clientId)
    if (client === undefined || client.clientSecret !== credentials.clientSecret) {
      return Either.left(invalidClient("unknown client or wrong secret"))
    }
    const allowed = client.authMethods ?? ["client_secret_basic", "client_secret_post"]
    if (!allowed.includes(method)) {
      return Either.left(invalidClient(`${method} is not allowed for this client`))
    }
    return Either.right({ client, method })
  }

  /** Checks shared by the token and revocation endpoints: POST, form body, no query, no repeats, client auth. */
  const formEndpointPrelude = (
    req: Incoming
  ): Either.Either<{ readonly client: Client; readonly method: ClientAuthMethod }, Outcome> => {
    if (req.method !== "POST") {
      return Either.left(oauthError(405, "invalid_request", "only POST is allowed", { allow: "POST" }))
    }
    if (req.url.search !== "") {
      return Either.left(oauthError(400, "invalid_request", "parameters must not be sent in the URL query"))
    }
    if (!req.isForm) {
      return Either.left(
        oauthError(400, "invalid_request", "the body must be application/x-www-form-urlencoded")
      )
    }
    if (req.form.repeated.length > 0) {
      return Either.left(
        oauthError(400, "invalid_request", `repeated parameters: ${req.form.repeated.join(", ")}`)
      )
    }
    return authenticate(req)
  }

  return { authenticate, formEndpointPrelude }
}
