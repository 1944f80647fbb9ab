/**
 * The authorization endpoint, driven programmatically: `prompt`, `approve`, `deny` check a request exactly as a strict provider does (RFC 6749 §4.1.1, §4.1.2.1, RFC 7636, RFC 9207), and `issueGrant` seeds grants.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { AuthorizationPrompt } from "../../FakeAuthorizationServerGrant.js"
import * as internal from "../fakeAuthorizationServer.js"
import { FakeAuthorizationError } from "./errors.js"
import type { ServerContext } from "./state.js"
import type * as Tokens from "./tokens.js"

export const make = (
  server: ServerContext,
  tokens: ReturnType<typeof Tokens.make>,
  redirectMatches: (registered: string, requested: string) => boolean
) => {
  const { accessMillis, clients, codeMillis, log, opts, transact, urls } = server
  const { issueTokens, newGrant } = tokens
  type Decision =
    | { readonly _tag: "Approve"; readonly user: string }
    | { readonly _tag: "Deny"; readonly error: string; readonly description: string | undefined }
    | { readonly _tag: "Prompt" }

  const authorize = (
    input: string | URL,
    decision: Decision
  ): Effect.Effect<AuthorizationPrompt, FakeAuthorizationError> =>
    Effect.gen(function*() {
      const at = yield* Clock.currentTimeMillis
      const parsed = internal.parseUrl(input)
      const url = Option.getOrUndefined(parsed)
      const params = url === undefined ? internal.emptyForm : internal.parseParams(url.searchParams)
      const base = {
        at,
        endpoint: "authorize" as const,
        method: "GET",
        url: input.toString(),
        headers: {},
        form: params.record,
        clientId: params.record["client_id"],
        reusedRefreshToken: false,
        graceReplay: false,
        delivered: true
      }
      const refuse = (reason: FakeAuthorizationError["reason"], description: string) =>
        Effect.zipRight(
          log({ ...base, status: 400, error: reason }),
          new FakeAuthorizationError({ reason, description })
        )
      if (url === undefined) return yield* refuse("InvalidUrl", "the authorization URL cannot be parsed")
      if (url.origin + url.pathname !== urls.authorization) {
        return yield* refuse("WrongEndpoint", `expected ${urls.authorization}, got ${url.origin}${url.pathname}`)
      }
      if (params.repeated.includes("client_id")) return yield* refuse("InvalidClient", "client_id is repeated")
      const client = clients.get(params.record["client_id"] ?? "")
      if (client === undefined) return yield* refuse("InvalidClient", "client_id is missing or unknown")
      if (params.repeated.includes("redirect_uri")) {
        return yield* refuse("InvalidRedirectUri", "redirect_uri is repeated")
      }
      const redirectUri = params.record["redirect_uri"]
      if (
        redirectUri === undefined ||
        !client.redirectUris.some((registered) => redirectMatches(registered, redirectUri))
      ) {
        return yield* refuse("InvalidRedirectUri", "redirect_uri is missing or not registered (exact match)")
      }
      const callback = new URL(redirectUri)
      const state = params.record["state"]
      const redirect = (query: Record<string, string | undefined>, error: string | undefined) => {
        for (const [key, value] of Object.entries(query)) {
          if (value !== undefined) callback.searchParams.append(key, value)
        }
        if (state !== undefined) callback.searchParams.append("state", state)
        if (opts.includeIssInCallback) callback.searchParams.append("iss", opts.issuer)
        return Effect.as(log({ ...base, status: 302, error }), { _tag: "Redirect", url: callback } as const)
      }
      const fail = (error: string, description: string) => redirect({ error, error_description: description }, error)

      if (params.repeated.length > 0) {
        return yield* fail("invalid_request", `repeated parameters: ${params.repeated.join(", ")}`)
      }
      const responseType = params.record["response_type"]
      if (responseType === undefined) return yield* fail("invalid_request", "response_type is required")
      if (responseType !== "code") {
        return yield* fail("unsupported_response_type", "only response_type=code is supported")
      }
      const scopeParam = params.record["scope"]
      let scope = opts.scopes
      if (scopeParam !== undefined) {
        const requested = internal.parseScope(scopeParam)
        if (Option.isNone(requested) || !requested.value.every((s) => opts.scopes.includes(s))) {
          return yield* fail("invalid_scope", "the requested scope is malformed or not supported")
        }
        scope = requested.value
      }
      const challenge = params.record["code_challenge"]
      const challengeMethod = params.record["code_challenge_method"]
      if (challenge === undefined) {
        if (challengeMethod !== undefined) {
          return yield* fail("invalid_request", "code_challenge_method without code_challenge")
        }
        if (opts.requirePkce) return yield* fail("invalid_request", "PKCE (S256) is required")
      } else {
        if (challengeMethod === undefined || challengeMethod === "plain") {
          return yield* fail("invalid_request", "the plain PKCE method is not allowed; use S256")
        }
        if (challengeMethod !== "S256") {
          return yield* fail("invalid_request", "unsupported code_challenge_method")
        }
        if (!internal.s256ChallengePattern.test(challenge)) {
          return yield* fail("invalid_request", "malformed S256 code_challenge")
        }
      }
      if (decision._tag === "Prompt") {
        return { _tag: "Consent", clientId: client.clientId, redirectUri, scope, state } as const
      }
      if (decision._tag === "Deny") return yield* fail(decision.error, decision.description ?? "")
      const code = yield* transact((tx, now) =>
        Effect.tap(internal.randomToken("ac_", undefined), (code) =>
          Effect.sync(() =>
            tx.codes.set(code, {
              clientId: client.clientId,
              redirectUri,
              scope,
              user: decision.user,
              codeChallenge: challenge,
              expiresAt: now + codeMillis,
              grantId: undefined
            })
          ))
      )
      return yield* redirect({ code }, undefined)
    })

  const redirectOf = (prompt: AuthorizationPrompt): Effect.Effect<URL> =>
    prompt._tag === "Redirect"
      ? Effect.succeed(prompt.url)
      : Effect.dieMessage("FakeAuthorizationServer: a decision always redirects")

  const approve = Effect.fn("FakeAuthorizationServer.approve")(
    function*(authorizationUrl: string | URL, options?: { readonly user?: string | undefined }) {
      return yield* redirectOf(
        yield* authorize(authorizationUrl, { _tag: "Approve", user: options?.user ?? opts.defaultUser })
      )
    }
  )

  const deny = Effect.fn("FakeAuthorizationServer.deny")(
    function*(authorizationUrl: string | URL, error?: string, description?: string) {
      return yield* redirectOf(
        yield* authorize(authorizationUrl, {
          _tag: "Deny",
          error: error ?? "access_denied",
          description: description ?? (error === undefined ? "The user denied the request" : undefined)
        })
      )
    }
  )

  const prompt = Effect.fn("FakeAuthorizationServer.prompt")(function*(authorizationUrl: string | URL) {
    return yield* authorize(authorizationUrl, { _tag: "Prompt" })
  })

  const issueGrant = Effect.fn("FakeAuthorizationServer.issueGrant")(
    function*(options?: {
      readonly clientId?: string | undefined
      readonly user?: string | undefined
      readonly scope?: ReadonlyArray<string> | undefined
    }) {
      const clientId = options?.clientId ?? opts.clients[0]?.clientId ?? ""
      if (!clients.has(clientId)) {
        return yield* new FakeAuthorizationError({ reason: "InvalidClient", description: "unknown client_id" })
      }
      const scope = options?.scope ?? opts.scopes
      return yield* transact((tx, now) =>
        Effect.gen(function*() {
          const grantId = yield* newGrant(tx, now, clientId, options?.user ?? opts.defaultUser, scope)
          const issued = yield* issueTokens(tx, now, grantId, scope, opts.tokenBytes)
          return {
            grantId,
            accessToken: issued.accessToken,
            refreshToken: issued.refreshToken ?? "",
            expiresIn: Math.round(accessMillis / 1000),
            scope
          }
        })
      )
    }
  )

  return { approve, deny, prompt, issueGrant }
}
