/**
 * The fake authorization server's API: routing of requests to the endpoints, fault handling around them,
 * the request log and the service. The endpoints live in their own modules.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import type * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as UrlParams from "@effect/platform/UrlParams"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Ref from "effect/Ref"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type { FakeAuthorizationServer, Options } from "../../FakeAuthorizationServer.js"
import type { Answer } from "../../FakeAuthorizationServerFault.js"
import type { Grant } from "../../FakeAuthorizationServerGrant.js"
import type { Endpoints } from "../../FakeAuthorizationServerMetadata.js"
import * as internal from "../fakeAuthorizationServer.js"
import * as Authorize from "./authorize.js"
import * as ClientAuthentication from "./clientAuthentication.js"
import * as Faults from "./faults.js"
import * as Resource from "./resource.js"
import * as Revocation from "./revocation.js"
import {
  emptyState,
  type HandlingContext,
  type Incoming,
  json,
  jsonHeaders,
  makeContext,
  nullBodyStatuses,
  type Outcome
} from "./state.js"
import * as TokenEndpoint from "./tokenEndpoint.js"
import * as Tokens from "./tokens.js"

const loopbackHosts = new Set(["127.0.0.1", "[::1]"])

const withoutPort = (uri: string): string | undefined => {
  if (!URL.canParse(uri)) return undefined
  const url = new URL(uri)
  if (url.protocol !== "http:" || !loopbackHosts.has(url.hostname)) return undefined
  url.port = ""
  return url.href
}

export const make = (
  opts: Options,
  urls: Endpoints,
  metadataBody: string
): Effect.Effect<FakeAuthorizationServer.Service> =>
  Effect.gen(function*() {
    const redirectMatches = (registered: string, requested: string): boolean => {
      if (registered === requested) return true
      if (opts.loopbackAnyPort !== true) return false
      const bare = withoutPort(registered)
      return bare !== undefined && bare === withoutPort(requested)
    }
    const issuerOrigin = new URL(urls.token).origin
    const paths = {
      token: new URL(urls.token).pathname,
      revoke: new URL(urls.revocation).pathname,
      api: new URL(urls.apiBase).pathname.replace(/\/+$/, "")
    }
    const metadataMode = opts.metadata ?? "both"
    const metadataPaths = {
      oauth: new URL(urls.oauthMetadata).pathname,
      openid: new URL(urls.openIdConfiguration).pathname
    }
    /** Both well-known paths are the `metadata` endpoint; the ones `metadata` does not serve answer 404. */
    const servedMetadataPaths = [
      ...(metadataMode === "oauth" || metadataMode === "both" ? [metadataPaths.oauth] : []),
      ...(metadataMode === "openid" || metadataMode === "both" ? [metadataPaths.openid] : [])
    ]

    const server = yield* makeContext(opts, urls)
    const { faultsRef, log, logRef, read, stateRef, transact } = server
    const tokens = Tokens.make(server)
    const auth = ClientAuthentication.make(server)
    const { tokenEndpoint } = TokenEndpoint.make(server, tokens, auth)
    const { revokeEndpoint } = Revocation.make(tokens, auth)
    const { accessTokenValid, apiEndpoint } = Resource.make(server, paths)
    const { deepen, echo, malformed, stalledBody, takeFaults } = Faults.make(server)
    const { approve, deny, issueGrant, prompt } = Authorize.make(server, tokens, redirectMatches)
    const { revokeGrant } = tokens

    const route = (url: URL): "token" | "revoke" | "api" | "metadata" | "other" => {
      if (url.origin !== issuerOrigin) return "other"
      if (url.pathname === metadataPaths.oauth || url.pathname === metadataPaths.openid) return "metadata"
      if (url.pathname === paths.token) return "token"
      if (url.pathname === paths.revoke) return "revoke"
      if (url.pathname.startsWith(paths.api + "/")) return "api"
      return "other"
    }

    const dispatch = (
      endpoint: "token" | "revoke" | "api" | "metadata" | "other",
      req: Incoming,
      ctx: HandlingContext
    ): Effect.Effect<Outcome> => {
      switch (endpoint) {
        case "token":
          return transact((tx, now) => tokenEndpoint(tx, now, req, ctx))
        case "revoke":
          return transact((tx, now) => Effect.succeed(revokeEndpoint(tx, now, req)))
        case "api":
          return transact((tx, now) => apiEndpoint(tx, now, req))
        case "metadata":
          return Effect.succeed(
            !servedMetadataPaths.includes(req.url.pathname)
              ? json(404, { error: "not_found" })
              : req.method === "GET"
              ? { status: 200, body: metadataBody, headers: { "content-type": "application/json" } }
              : json(405, { error: "method_not_allowed" }, { allow: "GET" })
          )
        case "other":
          return Effect.succeed(json(404, { error: "not_found" }))
      }
    }

    const transportError = (request: HttpClientRequest.HttpClientRequest, description: string) =>
      new HttpClientError.RequestError({ request, reason: "Transport", description })

    const answer = Effect.fnUntraced(function*(request: HttpClientRequest.HttpClientRequest) {
      const at = yield* Clock.currentTimeMillis
      const url = yield* Either.match(UrlParams.makeUrl(request.url, request.urlParams, request.hash), {
        onLeft: (cause) => Effect.fail(new HttpClientError.RequestError({ request, reason: "InvalidUrl", cause })),
        onRight: Effect.succeed
      })
      const endpoint = route(url)
      const headers: Record<string, string> = Object.fromEntries(Object.entries(request.headers))
      const bodyText = yield* Effect.mapError(
        internal.readBodyText(request.body),
        (cause) => new HttpClientError.RequestError({ request, reason: "Encode", cause })
      )
      const isForm = bodyText !== undefined && internal.isFormContentType(headers["content-type"])
      const form = isForm ? internal.parseParams(new URLSearchParams(bodyText)) : internal.emptyForm
      const grantType = endpoint === "token" ? form.record["grant_type"] : undefined
      const req: Incoming = { method: request.method, url, headers, bodyText, isForm, form }
      const faults = yield* takeFaults(endpoint, grantType)
      if (faults.delay !== undefined && faults.delay._tag === "Delay") yield* Effect.sleep(faults.delay.duration)
      const fault = faults.other ?? faults.delay
      const base = {
        at,
        endpoint,
        method: request.method,
        url: url.toString(),
        headers,
        form: form.record,
        grantType,
        refreshTokenPresented: grantType === "refresh_token" ? form.record["refresh_token"] : undefined,
        fault: fault?._tag
      }
      if (fault?._tag === "TransportError") {
        yield* log({ ...base, status: 0, reusedRefreshToken: false, graceReplay: false, delivered: false })
        return yield* transportError(request, "injected transport error (fake authorization server)")
      }
      let outcome: Outcome
      if (fault?._tag === "Status") {
        const body = fault.body ?? ""
        outcome = {
          status: fault.status,
          body,
          headers: { ...(body.startsWith("{") ? jsonHeaders : {}), ...fault.headers }
        }
      } else if (fault?._tag === "MalformedBody") {
        outcome = malformed(fault.kind)
      } else if (fault?._tag === "EchoRequest") {
        outcome = echo(req, fault)
      } else {
        outcome = yield* dispatch(endpoint, req, {
          tokenSize: fault?._tag === "HugeTokens" ? fault.size : opts.tokenBytes,
          extras: fault?._tag === "TokenResponseExtras"
            ? fault.extras
            : fault?._tag === "OutOfRangeNumbers"
            ? { expires_in: fault.expiresIn ?? 9999999999999 }
            : {}
        })
        if (fault?._tag === "DeepJson") outcome = deepen(outcome, fault.field ?? "scope", fault.depth)
      }
      const dropped = fault?._tag === "CommitThenDrop"
      yield* log({
        ...base,
        status: outcome.status,
        error: outcome.error,
        clientId: outcome.clientId,
        clientAuth: outcome.clientAuth,
        reusedRefreshToken: outcome.reused === true,
        graceReplay: outcome.grace === true,
        delivered: !dropped
      })
      if (dropped) {
        return yield* transportError(request, "connection lost after the server committed (fake authorization server)")
      }
      if (fault?._tag === "StalledHeaders") {
        return { _tag: "StalledHeaders", status: outcome.status, headers: outcome.headers } satisfies Answer
      }
      const body = nullBodyStatuses.has(outcome.status)
        ? null
        : fault?._tag === "StalledBody"
        ? stalledBody(outcome.body, fault.bytes)
        : outcome.body
      const response = yield* Effect.sync(() =>
        HttpClientResponse.fromWeb(request, new Response(body, { status: outcome.status, headers: outcome.headers }))
      )
      return { _tag: "Response", response, stalled: fault?._tag === "StalledBody" } satisfies Answer
    })

    const handle = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.flatMap(
        answer(request),
        (answered) => answered._tag === "Response" ? Effect.succeed(answered.response) : Effect.never
      )

    const httpClient = HttpClient.make((request) => handle(request))

    const service: FakeAuthorizationServer.Service = {
      options: opts,
      endpoints: urls,
      handle,
      answer,
      httpClient,
      approve,
      deny,
      prompt,
      issueGrant,
      inject: (fault) => Ref.update(faultsRef, (queue) => [...queue, { fault, remaining: fault.times ?? 1 }]),
      pendingFaults: Effect.map(Ref.get(faultsRef), (queue) => queue.map(({ fault }) => fault)),
      clearFaults: Ref.set(faultsRef, []),
      requests: Ref.get(logRef),
      counters: Effect.map(Ref.get(logRef), (entries) => ({
        authorize: entries.filter((e) => e.endpoint === "authorize").length,
        token: entries.filter((e) => e.endpoint === "token").length,
        authorizationCode: entries.filter((e) => e.endpoint === "token" && e.grantType === "authorization_code")
          .length,
        refreshToken: entries.filter((e) => e.endpoint === "token" && e.grantType === "refresh_token").length,
        revoke: entries.filter((e) => e.endpoint === "revoke").length,
        api: entries.filter((e) => e.endpoint === "api").length,
        reusedRefreshTokens: entries.filter((e) => e.reusedRefreshToken).length
      })),
      clearLog: Ref.set(logRef, []),
      reset: Effect.all([SynchronizedRef.set(stateRef, emptyState()), Ref.set(logRef, []), Ref.set(faultsRef, [])], {
        discard: true
      }),
      isAccessTokenValid: (token) => read((state, now) => accessTokenValid(state, now, token) !== undefined),
      isRefreshTokenValid: (token) =>
        read((state, now) => {
          const record = state.refreshTokens.get(token)
          if (record === undefined || record.revokedAt !== undefined || record.rotatedAt !== undefined) return false
          const grant = state.grants.get(record.grantId)
          return grant !== undefined && grant.revokedAt === undefined && now < record.expiresAt
        }),
      grants: read((state) =>
        Array.from(state.grants.values(), (grant): Grant => ({
          id: grant.id,
          clientId: grant.clientId,
          user: grant.user,
          scope: grant.scope,
          createdAt: grant.createdAt,
          revoked: grant.revokedAt !== undefined,
          refreshToken: grant.refreshToken,
          accessTokens: grant.accessTokens,
          refreshTokens: grant.refreshTokens
        }))
      ),
      revokeAll: (user) =>
        transact((tx, now) =>
          Effect.sync(() => {
            for (const grant of tx.grants.values()) {
              if (user === undefined || grant.user === user) revokeGrant(tx, grant.id, now)
            }
          })
        )
    }
    return service
  })
