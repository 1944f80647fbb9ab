/**
 * The protected resource: a Credal-like API (`/whoami`, `/agents/sendMessage`, `/agents/fetchAgentResponse`) behind Bearer tokens (RFC 6750).
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as internal from "../fakeAuthorizationServer.js"
import {
  type AccessTokenRecord,
  type Incoming,
  json,
  oauthError,
  type Outcome,
  type ServerContext,
  type State
} from "./state.js"

export const make = (server: ServerContext, paths: { readonly api: string }) => {
  const { opts } = server
  const accessTokenValid = (state: State, now: number, token: string): AccessTokenRecord | undefined => {
    const record = state.accessTokens.get(token)
    if (record === undefined || record.revokedAt !== undefined || now >= record.expiresAt) return undefined
    const grant = state.grants.get(record.grantId)
    return grant === undefined || grant.revokedAt !== undefined ? undefined : record
  }

  const apiEndpoint = (tx: State, now: number, req: Incoming): Effect.Effect<Outcome> =>
    Effect.gen(function*() {
      const route = `${req.method} ${req.url.pathname.slice(paths.api.length)}`
      const known = ["GET /whoami", "POST /agents/sendMessage", "GET /agents/fetchAgentResponse"]
      if (!known.includes(route)) return json(404, { error: "not_found" })
      if (req.url.searchParams.has("access_token")) {
        return oauthError(400, "invalid_request", "access tokens must not be sent in the URL query")
      }
      const authorization = req.headers["authorization"]
      if (authorization === undefined) {
        return {
          ...json(401, { error: "unauthorized" }, { "www-authenticate": `Bearer realm="${opts.realm}"` }),
          error: "unauthorized"
        }
      }
      const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(authorization)
      const token = match?.[1]
      const record = token === undefined ? undefined : accessTokenValid(tx, now, token)
      if (record === undefined) {
        return oauthError(401, "invalid_token", "the access token is invalid, expired or revoked", {
          "www-authenticate": `Bearer realm="${opts.realm}", error="invalid_token"`
        })
      }
      const who = { clientId: record.clientId }
      if (route === "GET /whoami") return { ...json(200, { user: record.user, ...who }), ...who }
      if (route === "POST /agents/sendMessage") {
        const payload = internal.parseJson(req.bodyText ?? "")
        const message = Option.match(payload, {
          onNone: () => "",
          onSome: (value) =>
            typeof value === "object" && value !== null && "message" in value && typeof value.message === "string"
              ? value.message
              : ""
        })
        const jobId = yield* internal.randomToken("job_", undefined)
        tx.jobs.set(jobId, { jobId, user: record.user, clientId: record.clientId, message })
        return { ...json(200, { jobId }), ...who }
      }
      const job = tx.jobs.get(req.url.searchParams.get("jobId") ?? "")
      if (job === undefined || job.user !== record.user) return { ...json(404, { error: "job_not_found" }), ...who }
      return {
        ...json(200, { jobId: job.jobId, status: "completed", response: { message: `echo: ${job.message}` } }),
        ...who
      }
    })

  return { accessTokenValid, apiEndpoint }
}
