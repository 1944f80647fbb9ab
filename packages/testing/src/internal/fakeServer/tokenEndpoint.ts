/**
 * The token endpoint (RFC 6749 §4.1.3, §6; RFC 7636): the authorization_code and refresh_token grants, with single-use codes, PKCE, rotation, reuse detection and the grace window.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import type { Client } from "../../FakeAuthorizationServer.js"
import * as internal from "../fakeAuthorizationServer.js"
import type * as ClientAuthentication from "./clientAuthentication.js"
import {
  type HandlingContext,
  type Incoming,
  oauthError,
  type Outcome,
  type ServerContext,
  type State
} from "./state.js"
import type * as Tokens from "./tokens.js"

export const make = (
  server: ServerContext,
  tokens: ReturnType<typeof Tokens.make>,
  auth: ReturnType<typeof ClientAuthentication.make>
) => {
  const { graceMillis, opts } = server
  const { issueTokens, newGrant, revokeGrant, tokenResponse } = tokens
  const { formEndpointPrelude } = auth
  const authorizationCodeGrant = (
    tx: State,
    now: number,
    req: Incoming,
    client: Client,
    ctx: HandlingContext
  ): Effect.Effect<Outcome> =>
    Effect.gen(function*() {
      const form = req.form.record
      const codeValue = form["code"]
      if (codeValue === undefined) return oauthError(400, "invalid_request", "code is required")
      const code = tx.codes.get(codeValue)
      if (code === undefined || code.clientId !== client.clientId) {
        return oauthError(400, "invalid_grant", "unknown authorization code")
      }
      if (code.grantId !== undefined) {
        revokeGrant(tx, code.grantId, now)
        return oauthError(400, "invalid_grant", "authorization code was already used; its tokens are revoked")
      }
      if (now >= code.expiresAt) return oauthError(400, "invalid_grant", "authorization code expired")
      const redirectUri = form["redirect_uri"]
      if (redirectUri === undefined) return oauthError(400, "invalid_request", "redirect_uri is required")
      if (redirectUri !== code.redirectUri) {
        return oauthError(400, "invalid_grant", "redirect_uri differs from the authorization request")
      }
      const verifier = form["code_verifier"]
      if (code.codeChallenge === undefined) {
        if (verifier !== undefined) {
          return oauthError(400, "invalid_grant", "code_verifier sent for a code issued without code_challenge")
        }
      } else {
        if (verifier === undefined) return oauthError(400, "invalid_request", "code_verifier is required")
        if (!internal.codeVerifierPattern.test(verifier) || internal.s256(verifier) !== code.codeChallenge) {
          return oauthError(400, "invalid_grant", "PKCE verification failed")
        }
      }
      const grantId = yield* newGrant(tx, now, client.clientId, code.user, code.scope)
      tx.codes.set(codeValue, { ...code, grantId })
      const issued = yield* issueTokens(tx, now, grantId, code.scope, ctx.tokenSize)
      return tokenResponse(tx, now, issued, ctx)
    })

  const refreshTokenGrant = (
    tx: State,
    now: number,
    req: Incoming,
    client: Client,
    ctx: HandlingContext
  ): Effect.Effect<Outcome> =>
    Effect.gen(function*() {
      const form = req.form.record
      const presented = form["refresh_token"]
      if (presented === undefined) return oauthError(400, "invalid_request", "refresh_token is required")
      const record = tx.refreshTokens.get(presented)
      if (record === undefined || record.clientId !== client.clientId) {
        return oauthError(400, "invalid_grant", "unknown refresh token")
      }
      const grant = tx.grants.get(record.grantId)
      if (grant === undefined) return oauthError(400, "invalid_grant", "unknown refresh token")
      if (record.rotatedAt !== undefined) {
        const successor = record.successor
        const successorRecord = successor?.refreshToken === undefined
          ? undefined
          : tx.refreshTokens.get(successor.refreshToken)
        if (
          graceMillis > 0 && now - record.rotatedAt <= graceMillis && successor !== undefined &&
          grant.revokedAt === undefined && grant.refreshToken === successor.refreshToken &&
          successorRecord !== undefined && successorRecord.revokedAt === undefined
        ) {
          return { ...tokenResponse(tx, now, successor, ctx), reused: true, grace: true }
        }
        if (opts.reuseRevokesFamily) revokeGrant(tx, grant.id, now)
        return {
          ...oauthError(
            400,
            "invalid_grant",
            opts.reuseRevokesFamily
              ? "refresh token was already used; the grant is revoked"
              : "refresh token was already used"
          ),
          reused: true
        }
      }
      if (record.revokedAt !== undefined || grant.revokedAt !== undefined) {
        return oauthError(400, "invalid_grant", "refresh token was revoked")
      }
      if (now >= record.expiresAt) return oauthError(400, "invalid_grant", "refresh token expired")
      let scope = grant.scope
      const requested = form["scope"]
      if (requested !== undefined) {
        const parsed = internal.parseScope(requested)
        if (Option.isNone(parsed) || !parsed.value.every((s) => grant.scope.includes(s))) {
          return oauthError(400, "invalid_scope", "requested scope exceeds the granted scope")
        }
        scope = parsed.value
      }
      const issued = yield* issueTokens(tx, now, grant.id, scope, ctx.tokenSize)
      if (opts.rotateRefreshTokens) {
        tx.refreshTokens.set(presented, { ...record, rotatedAt: now, successor: issued })
      }
      return tokenResponse(tx, now, issued, ctx)
    })

  const tokenEndpoint = (tx: State, now: number, req: Incoming, ctx: HandlingContext): Effect.Effect<Outcome> =>
    Either.match(formEndpointPrelude(req), {
      onLeft: Effect.succeed,
      onRight: ({ client, method }) => {
        const grantType = req.form.record["grant_type"]
        const tag = (outcome: Outcome): Outcome => ({ ...outcome, clientId: client.clientId, clientAuth: method })
        if (grantType === undefined) {
          return Effect.succeed(tag(oauthError(400, "invalid_request", "grant_type is required")))
        }
        if (grantType === "authorization_code") {
          return Effect.map(authorizationCodeGrant(tx, now, req, client, ctx), tag)
        }
        if (grantType === "refresh_token") {
          return Effect.map(refreshTokenGrant(tx, now, req, client, ctx), tag)
        }
        return Effect.succeed(
          tag(oauthError(400, "unsupported_grant_type", `grant_type ${grantType} is not supported`))
        )
      }
    })

  return { tokenEndpoint }
}
