/**
 * The provider's userinfo endpoint (OpenID Connect Core §5.3) for a signed-in key: a GET with the
 * Bearer token from `AccessTokens`, under one deadline and a size limit (SPEC S32), whose `sub` must be
 * the ID Token's (§5.3.4) or the answer is not used. An access token the endpoint rejects (401) is
 * invalidated and the request made once more with a refreshed one (SPEC S25).
 *
 * @since 0.1.0
 */
import { AccessTokens, OAuthConfig } from "@effect-oauth/core"
import * as HttpClient from "@effect/platform/HttpClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as IdTokenClaims from "./IdTokenClaims.js"
import { IdTokens } from "./IdTokens.js"
import * as Fetch from "./internal/fetch.js"
import { UserInfoError } from "./OidcError.js"

/**
 * @example
 * ```ts
 * import { UserInfo } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * const emailOf = (key: string) =>
 *   Effect.flatMap(UserInfo.UserInfo, (userInfo: UserInfo.Service) => userInfo.userinfo(key)).pipe(
 *     Effect.map((claims) => claims.email)
 *   )
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** The claims the provider returns for the user signed in under `key`. */
  readonly userinfo: (
    key: string
  ) => Effect.Effect<IdTokenClaims.UserInfoClaims, UserInfoError | AccessTokens.GetError>
}

/**
 * @example
 * ```ts
 * import { UserInfo } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * // The profile of the user signed in under `user:ann`; its `sub` is the ID Token's.
 * const program = Effect.gen(function*() {
 *   const userInfo = yield* UserInfo.UserInfo
 *   const claims = yield* userInfo.userinfo("user:ann")
 *   return claims.name ?? claims.sub
 * })
 * ```
 *
 * @since 0.1.0
 * @category tags
 */
export class UserInfo extends Context.Tag("@effect-oauth/oidc/UserInfo")<UserInfo, Service>() {}

/**
 * @example
 * ```ts
 * import { UserInfo } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * // Needs `IdTokens`, `AccessTokens`, `OAuthConfig` and an `HttpClient`, as `UserInfo.layer` does.
 * const program = Effect.gen(function*() {
 *   const userInfo = yield* UserInfo.make
 *   return yield* userInfo.userinfo("user:ann")
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: Effect.Effect<
  Service,
  never,
  IdTokens | AccessTokens.AccessTokens | OAuthConfig.OAuthConfig | HttpClient.HttpClient
> = Effect.gen(function*() {
  const idTokens = yield* IdTokens
  const accessTokens = yield* AccessTokens.AccessTokens
  const config = yield* OAuthConfig.OAuthConfig
  const client = yield* HttpClient.HttpClient
  const endpoint = Option.fromNullable(idTokens.metadata.userinfoEndpoint).pipe(Option.map((url) => new URL(url)))

  const once = (url: URL, key: string) =>
    Effect.gen(function*() {
      const tokens = yield* accessTokens.tokens(key)
      const claims = IdTokenClaims.fromTokenSet(tokens)
      if (Option.isNone(claims)) return yield* new UserInfoError({ reason: "NoIdToken" })
      const document = yield* Fetch.getJson(client, url, {
        endpoint: "userinfo",
        timeout: config.requestTimeout,
        bearer: tokens.accessToken
      })
        .pipe(Effect.mapError((failure) =>
          new UserInfoError(failure.status === undefined ? { reason: failure.reason } : failure)
        ))
      return { tokens, claims: claims.value, document }
    })

  const userinfo = Effect.fn("UserInfo.userinfo")(function*(key: string) {
    yield* Effect.annotateCurrentSpan("oauth.key", key)
    if (Option.isNone(endpoint)) return yield* new UserInfoError({ reason: "NoEndpoint" })
    let answer = yield* once(endpoint.value, key)
    if (answer.document.status === 401) {
      yield* accessTokens.invalidate(key, answer.tokens.accessToken)
      answer = yield* once(endpoint.value, key)
    }
    const { claims, document } = answer
    if (document.status !== 200) return yield* new UserInfoError({ reason: "Status", status: document.status })
    if (Option.isNone(document.json)) return yield* new UserInfoError({ reason: "Body", status: 200 })
    const info = yield* Either.match(IdTokenClaims.userInfoFromJson(document.json.value), {
      onLeft: () => Effect.fail(new UserInfoError({ reason: "InvalidClaims" })),
      onRight: Effect.succeed
    })
    // §5.3.4: the answer is about the ID Token's user, or it must not be used.
    if (info.sub !== claims.sub) return yield* new UserInfoError({ reason: "SubjectMismatch" })
    return info
  })

  return UserInfo.of({ userinfo })
})

/**
 * @example
 * ```ts
 * import { AccessTokens, TokenStore } from "@effect-oauth/core"
 * import { IdTokens, UserInfo } from "@effect-oauth/oidc"
 * import { Layer } from "effect"
 *
 * // On top of an `OAuthClient` that validates ID Tokens; provide `OAuthConfig` and an `HttpClient` below.
 * const UserInfoLive = UserInfo.layer.pipe(
 *   Layer.provideMerge(AccessTokens.layer()),
 *   Layer.provideMerge(TokenStore.layerMemory),
 *   Layer.provideMerge(IdTokens.layerOAuthClient())
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer: Layer.Layer<
  UserInfo,
  never,
  IdTokens | AccessTokens.AccessTokens | OAuthConfig.OAuthConfig | HttpClient.HttpClient
> = Layer.effect(UserInfo, make)
