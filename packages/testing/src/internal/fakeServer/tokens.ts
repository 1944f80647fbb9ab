/**
 * Issuing tokens: new grants, access and refresh tokens (rotated or not), the token response, revocation of a grant.
 *
 * @internal
 */
import * as Effect from "effect/Effect"
import * as internal from "../fakeAuthorizationServer.js"
import { type HandlingContext, type IssuedTokens, json, type Outcome, type ServerContext, type State } from "./state.js"

export const make = (server: ServerContext) => {
  const { accessMillis, opts, refreshMillis } = server
  const revokeGrant = (tx: State, grantId: string | undefined, now: number) => {
    if (grantId === undefined) return
    const grant = tx.grants.get(grantId)
    if (grant !== undefined && grant.revokedAt === undefined) {
      tx.grants.set(grantId, { ...grant, revokedAt: now })
    }
  }

  const issueTokens = (
    tx: State,
    now: number,
    grantId: string,
    scope: ReadonlyArray<string>,
    size: number | undefined
  ): Effect.Effect<IssuedTokens> =>
    Effect.gen(function*() {
      const grant = tx.grants.get(grantId)
      if (grant === undefined) return yield* Effect.dieMessage("FakeAuthorizationServer: unknown grant")
      const accessToken = yield* internal.randomToken("at_", size)
      tx.accessTokens.set(accessToken, {
        grantId,
        clientId: grant.clientId,
        user: grant.user,
        expiresAt: now + accessMillis,
        revokedAt: undefined
      })
      const rotate = opts.rotateRefreshTokens || grant.refreshToken === undefined
      const refreshToken = rotate ? yield* internal.randomToken("rt_", size) : undefined
      if (refreshToken !== undefined) {
        tx.refreshTokens.set(refreshToken, {
          grantId,
          clientId: grant.clientId,
          expiresAt: now + refreshMillis,
          revokedAt: undefined,
          rotatedAt: undefined,
          successor: undefined
        })
      }
      tx.grants.set(grantId, {
        ...grant,
        refreshToken: refreshToken ?? grant.refreshToken,
        accessTokens: [...grant.accessTokens, accessToken],
        refreshTokens: refreshToken === undefined ? grant.refreshTokens : [...grant.refreshTokens, refreshToken]
      })
      return { accessToken, refreshToken, scope }
    })

  const newGrant = (tx: State, now: number, clientId: string, user: string, scope: ReadonlyArray<string>) =>
    Effect.map(internal.randomToken("grant_", undefined), (id) => {
      tx.grants.set(id, {
        id,
        clientId,
        user,
        scope,
        createdAt: now,
        revokedAt: undefined,
        refreshToken: undefined,
        accessTokens: [],
        refreshTokens: []
      })
      return id
    })

  const tokenResponse = (tx: State, now: number, issued: IssuedTokens, ctx: HandlingContext): Outcome => {
    const expiresAt = tx.accessTokens.get(issued.accessToken)?.expiresAt ?? now
    const body: Record<string, unknown> = { access_token: issued.accessToken, token_type: "Bearer" }
    if (Number.isFinite(expiresAt)) body.expires_in = Math.max(0, Math.round((expiresAt - now) / 1000))
    if (issued.refreshToken !== undefined) body.refresh_token = issued.refreshToken
    if (opts.includeScopeInResponse) body.scope = issued.scope.join(" ")
    return json(200, { ...body, ...opts.tokenResponseExtras, ...ctx.extras })
  }

  return { revokeGrant, issueTokens, newGrant, tokenResponse }
}
