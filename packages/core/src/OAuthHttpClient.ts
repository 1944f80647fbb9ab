/**
 * An `HttpClient` that acts for one key: it adds `Authorization: Bearer` with a valid access token
 * from `AccessTokens`, and on a 401 for the token it just sent it forces one refresh and retries
 * once — never a loop (SPEC S25).
 *
 * @since 0.1.0
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import type * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import { dual } from "effect/Function"
import * as Redacted from "effect/Redacted"
import { AccessTokens } from "./AccessTokens.js"
import * as AccessTokensModule from "./AccessTokens.js"

/**
 * The errors of an authorized client: those of the wrapped client and those of `AccessTokens.get`.
 *
 * @example
 * ```ts
 * import type { OAuthHttpClient } from "@effect-oauth/core"
 * import type { HttpClientError } from "@effect/platform"
 *
 * type ApiError = OAuthHttpClient.Error<HttpClientError.HttpClientError>
 * const describe = (error: ApiError): string => error._tag
 * void describe
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type Error<E> = E | AccessTokensModule.GetError

/**
 * Wraps `client` so that it acts for `key`. A fresh token is read from memory; a due one is refreshed
 * through `AccessTokens.get` first. After a 401 for the token the request carried, the same request, as
 * it was sent, goes once more with the new token; a 401 for a request that did not carry this key's
 * token (the wrapped client set its own `Authorization`) is the answer. A request body must be
 * replayable (not a one-shot stream) for the retry.
 *
 * @example
 * ```ts
 * import { AccessTokens, OAuthClient, type OAuthConfig, OAuthHttpClient, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { DateTime, Effect, Layer, Option, Redacted } from "effect"
 *
 * // A fake token endpoint: every token request is answered with new tokens.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(
 *         JSON.stringify({ access_token: "at-1", token_type: "Bearer", expires_in: 3600, refresh_token: "rt-1" }),
 *         { headers: { "content-type": "application/json" } }
 *       )
 *     )
 *   )
 * )
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read"]
 * }
 * const Tokens = AccessTokens.layer().pipe(
 *   Layer.provide(Layer.merge(OAuthClient.layerWithConfig(options), TokenStore.layerMemory)),
 *   Layer.provide(Layer.succeed(HttpClient.HttpClient, server))
 * )
 * const signedIn = Effect.map(DateTime.now, (now) =>
 *   new TokenSet.TokenSet({
 *     accessToken: Redacted.make("at-0"),
 *     tokenType: "Bearer",
 *     refreshToken: Option.some(Redacted.make("rt-0")),
 *     expiresAt: DateTime.add(now, { hours: 1 }),
 *     refreshExpiresAt: Option.none(),
 *     issuedAt: now,
 *     scopes: ["read"]
 *   }))
 * // A fake API that echoes the Authorization header it receives.
 * const api = HttpClient.make((request) =>
 *   Effect.succeed(HttpClientResponse.fromWeb(request, new Response(request.headers.authorization ?? "none")))
 * )
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* AccessTokens.AccessTokens
 *   yield* tokens.save("user-1", yield* signedIn)
 *   const client = api.pipe(OAuthHttpClient.authorize(tokens, "user-1"))
 *   const response = yield* client.get("https://api.example.com/me")
 *   return yield* response.text
 * })
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, Tokens)), "Bearer at-0")
 * ```
 *
 * @since 0.1.0
 * @category combinators
 */
export const authorize: {
  (
    tokens: AccessTokensModule.Service,
    key: string
  ): <E, R>(client: HttpClient.HttpClient.With<E, R>) => HttpClient.HttpClient.With<Error<E>, R>
  <E, R>(
    client: HttpClient.HttpClient.With<E, R>,
    tokens: AccessTokensModule.Service,
    key: string
  ): HttpClient.HttpClient.With<Error<E>, R>
} = dual(3, <E, R>(
  client: HttpClient.HttpClient.With<E, R>,
  tokens: AccessTokensModule.Service,
  key: string
): HttpClient.HttpClient.With<Error<E>, R> => {
  // The client's two stages, as `HttpClient.makeWith` builds every client: decorating them directly,
  // as `HttpClient.mapRequest` does, keeps the request path as short as a bare decoration.
  const stages = client as Partial<Stages<E, R>>
  const preprocess: HttpClient.HttpClient.Preprocess<E, R> = stages.preprocess ?? Effect.succeed
  const postprocess: Postprocess<E, R> = stages.postprocess ??
    (<E2, R2>(request: Effect.Effect<HttpClientRequest.HttpClientRequest, E2, R2>) =>
      Effect.flatMap(request, client.execute))
  const fresh = tokens.unsafeFresh

  const withToken = (request: HttpClientRequest.HttpClientRequest) =>
    Effect.withFiberRuntime<HttpClientRequest.HttpClientRequest, Error<E>, R>((fiber) => {
      // A fresh token is read from memory in this step; anything else goes through `get` (S19–S24, S43).
      const token = fresh?.(key, Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeMillis())
      return token !== undefined
        ? preprocess(HttpClientRequest.bearerToken(request, token))
        : Effect.flatMap(tokens.get(key), (next) => preprocess(HttpClientRequest.bearerToken(request, next)))
    })

  // After a 401 for the token the request carried: one forced refresh, one retry of the same request
  // with a different token, and a second 401 is the answer (never a loop).
  const retry = (rejected: HttpClientResponse.HttpClientResponse, sent: string) =>
    Effect.zipRight(
      tokens.invalidate(key, Redacted.make(sent)),
      Effect.flatMap(tokens.get(key), (next) =>
        Redacted.value(next) === sent
          ? Effect.succeed(rejected)
          : postprocess(Effect.succeed(HttpClientRequest.bearerToken(rejected.request, next))))
    )
  const answer = (response: HttpClientResponse.HttpClientResponse) => {
    if (response.status !== 401) return Effect.succeed(response)
    const sent = bearerOf(response.request)
    return sent === undefined ? Effect.succeed(response) : retry(response, sent)
  }

  return HttpClient.makeWith<Error<E>, R, Error<E>, R>(
    (request) => Effect.flatMap(postprocess(request), answer),
    (request) => withToken(request)
  )
})

/**
 * The stages of a client made by `HttpClient.makeWith` (all of `@effect/platform`'s clients). The
 * second passes the failures of the request it is given through, whatever they are.
 */
interface Stages<E, R> {
  readonly preprocess: HttpClient.HttpClient.Preprocess<E, R>
  readonly postprocess: Postprocess<E, R>
}

type Postprocess<E, R> = <E2, R2>(
  request: Effect.Effect<HttpClientRequest.HttpClientRequest, E2, R2>
) => Effect.Effect<HttpClientResponse.HttpClientResponse, E | E2, R | R2>

const bearerPrefix = "Bearer "

/** The token of the request's `Authorization: Bearer` header, as sent. */
const bearerOf = (request: HttpClientRequest.HttpClientRequest): string | undefined => {
  const header = request.headers["authorization"]
  return header !== undefined && header.startsWith(bearerPrefix) ? header.slice(bearerPrefix.length) : undefined
}

/**
 * The `HttpClient` in context, acting for `key`.
 *
 * @example
 * ```ts
 * import { AccessTokens, OAuthClient, type OAuthConfig, OAuthHttpClient, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { DateTime, Effect, Layer, Option, Redacted } from "effect"
 *
 * // A fake token endpoint: every token request is answered with new tokens.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(
 *         JSON.stringify({ access_token: "at-1", token_type: "Bearer", expires_in: 3600, refresh_token: "rt-1" }),
 *         { headers: { "content-type": "application/json" } }
 *       )
 *     )
 *   )
 * )
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read"]
 * }
 * const Tokens = AccessTokens.layer().pipe(
 *   Layer.provide(Layer.merge(OAuthClient.layerWithConfig(options), TokenStore.layerMemory)),
 *   Layer.provide(Layer.succeed(HttpClient.HttpClient, server))
 * )
 * const signedIn = Effect.map(DateTime.now, (now) =>
 *   new TokenSet.TokenSet({
 *     accessToken: Redacted.make("at-0"),
 *     tokenType: "Bearer",
 *     refreshToken: Option.some(Redacted.make("rt-0")),
 *     expiresAt: DateTime.add(now, { hours: 1 }),
 *     refreshExpiresAt: Option.none(),
 *     issuedAt: now,
 *     scopes: ["read"]
 *   }))
 * // A fake API that echoes the Authorization header it receives.
 * const api = HttpClient.make((request) =>
 *   Effect.succeed(HttpClientResponse.fromWeb(request, new Response(request.headers.authorization ?? "none")))
 * )
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* AccessTokens.AccessTokens
 *   yield* tokens.save("user-1", yield* signedIn)
 *   const client = yield* OAuthHttpClient.make("user-1")
 *   const response = yield* client.get("https://api.example.com/me")
 *   return yield* response.text
 * }).pipe(Effect.provide(Tokens), Effect.provideService(HttpClient.HttpClient, api))
 * assert.strictEqual(await Effect.runPromise(program), "Bearer at-0")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  key: string
): Effect.Effect<
  HttpClient.HttpClient.With<Error<HttpClientError.HttpClientError>>,
  never,
  AccessTokens | HttpClient.HttpClient
> =>
  Effect.map(
    Effect.zip(HttpClient.HttpClient, AccessTokens),
    ([client, tokens]) => authorize(client, tokens, key)
  )

/**
 * A function that returns a valid access token for `key` each time it is called, for SDKs that take
 * an `apiKey` or `token` callback that must return a Promise. Prefer `AccessTokens.supplier`, which
 * answers a fresh token synchronously.
 *
 * @example
 * ```ts
 * import { AccessTokens, OAuthClient, type OAuthConfig, OAuthHttpClient, TokenSet, TokenStore } from "@effect-oauth/core"
 * import { HttpClient, HttpClientResponse } from "@effect/platform"
 * import { DateTime, Effect, Layer, Option, Redacted } from "effect"
 *
 * // A fake token endpoint: every token request is answered with new tokens.
 * const server = HttpClient.make((request) =>
 *   Effect.succeed(
 *     HttpClientResponse.fromWeb(
 *       request,
 *       new Response(
 *         JSON.stringify({ access_token: "at-1", token_type: "Bearer", expires_in: 3600, refresh_token: "rt-1" }),
 *         { headers: { "content-type": "application/json" } }
 *       )
 *     )
 *   )
 * )
 * const options: OAuthConfig.Options = {
 *   clientId: "my-client",
 *   clientSecret: Redacted.make("my-secret"),
 *   authorizationEndpoint: "https://auth.example.com/authorize",
 *   tokenEndpoint: "https://auth.example.com/token",
 *   redirectUri: "https://app.example.com/oauth/callback",
 *   scopes: ["read"]
 * }
 * const Tokens = AccessTokens.layer().pipe(
 *   Layer.provide(Layer.merge(OAuthClient.layerWithConfig(options), TokenStore.layerMemory)),
 *   Layer.provide(Layer.succeed(HttpClient.HttpClient, server))
 * )
 * const signedIn = Effect.map(DateTime.now, (now) =>
 *   new TokenSet.TokenSet({
 *     accessToken: Redacted.make("at-0"),
 *     tokenType: "Bearer",
 *     refreshToken: Option.some(Redacted.make("rt-0")),
 *     expiresAt: DateTime.add(now, { hours: 1 }),
 *     refreshExpiresAt: Option.none(),
 *     issuedAt: now,
 *     scopes: ["read"]
 *   }))
 * // A fake API that echoes the Authorization header it receives.
 * const api = HttpClient.make((request) =>
 *   Effect.succeed(HttpClientResponse.fromWeb(request, new Response(request.headers.authorization ?? "none")))
 * )
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* AccessTokens.AccessTokens
 *   yield* tokens.save("user-1", yield* signedIn)
 *   const token = yield* OAuthHttpClient.tokenFunction("user-1")
 *   return yield* Effect.promise(() => token())
 * })
 * assert.strictEqual(await Effect.runPromise(Effect.provide(program, Tokens)), "at-0")
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const tokenFunction = (key: string): Effect.Effect<() => Promise<string>, never, AccessTokens> =>
  Effect.map(AccessTokensModule.supplier(key), (supply) => () => Promise.resolve(supply()))
