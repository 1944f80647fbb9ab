/**
 * The revocation endpoint (RFC 7009): revoking a refresh token revokes its grant; unknown tokens are 200.
 *
 * @internal
 */
import * as Either from "effect/Either"
import type * as ClientAuthentication from "./clientAuthentication.js"
import { type Incoming, noStore, oauthError, type Outcome, type State } from "./state.js"
import type * as Tokens from "./tokens.js"

export const make = (tokens: ReturnType<typeof Tokens.make>, auth: ReturnType<typeof ClientAuthentication.make>) => {
  const { revokeGrant } = tokens
  const { formEndpointPrelude } = auth
  const revokeEndpoint = (tx: State, now: number, req: Incoming): Outcome =>
    Either.match(formEndpointPrelude(req), {
      onLeft: (outcome) => outcome,
      onRight: ({ client, method }): Outcome => {
        const tag = (outcome: Outcome): Outcome => ({ ...outcome, clientId: client.clientId, clientAuth: method })
        const token = req.form.record["token"]
        if (token === undefined) return tag(oauthError(400, "invalid_request", "token is required"))
        const done = tag({ status: 200, body: "", headers: noStore })
        const access = tx.accessTokens.get(token)
        if (access !== undefined) {
          if (access.clientId !== client.clientId) {
            return tag(oauthError(400, "unauthorized_client", "the token was issued to another client"))
          }
          if (access.revokedAt === undefined) tx.accessTokens.set(token, { ...access, revokedAt: now })
          return done
        }
        const refresh = tx.refreshTokens.get(token)
        if (refresh !== undefined) {
          if (refresh.clientId !== client.clientId) {
            return tag(oauthError(400, "unauthorized_client", "the token was issued to another client"))
          }
          if (refresh.revokedAt === undefined) tx.refreshTokens.set(token, { ...refresh, revokedAt: now })
          revokeGrant(tx, refresh.grantId, now)
        }
        return done
      }
    })

  return { revokeEndpoint }
}
