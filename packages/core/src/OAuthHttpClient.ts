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
 * Wraps `client` so that it acts for `key`. A request body must be replayable (not a one-shot
 * stream) for the retry after a 401.
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
  const send = (request: HttpClientRequest.HttpClientRequest, token: Redacted.Redacted<string>) =>
    client.execute(HttpClientRequest.bearerToken(request, token))
  // After a 401 for the token just sent: one forced refresh, one retry with a different token, and
  // a second 401 is the answer (never a loop).
  const retry = (
    request: HttpClientRequest.HttpClientRequest,
    token: Redacted.Redacted<string>,
    rejected: HttpClientResponse.HttpClientResponse
  ) =>
    Effect.zipRight(
      tokens.invalidate(key, token),
      Effect.flatMap(tokens.get(key), (next) =>
        Redacted.value(next) === Redacted.value(token) ? Effect.succeed(rejected) : send(request, next))
    )
  return HttpClient.makeWith<never, never, Error<E>, R>(
    (requestEffect) =>
      Effect.flatMap(requestEffect, (request) =>
        Effect.flatMap(tokens.get(key), (token) =>
          Effect.flatMap(
            send(request, token),
            (response) => response.status === 401 ? retry(request, token, response) : Effect.succeed(response)
          ))),
    Effect.succeed
  )
})

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
