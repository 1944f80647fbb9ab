/**
 * The same sign-in behind an `HttpApi`: `GET /api/me` is protected by
 * `NodeSignInAuthentication.Authentication` (the session cookie, security scheme `session`), whose handler gets the signed-in user as
 * `NodeSignIn.SignedIn`; the sign-in routes (`/login`, `/callback`, `/logout`) are added to the API's
 * router. It runs against the embedded mock Credal on 127.0.0.1.
 *
 * `pnpm --filter @effect-oauth/example-web-app start:api` runs it on http://127.0.0.1:3001.
 */
import { AccessTokens, type OAuthConfig, PendingAuthorizations, TokenStore } from "@effect-oauth/core"
import { NodeOAuth, NodeSignIn, NodeSignInAuthentication } from "@effect-oauth/node"
import type * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiError from "@effect/platform/HttpApiError"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import { SeenTokens, signInLayer, startMock, tcpUrl } from "./app.js"

/** What `GET /api/me` answers: the signed-in key and when its access token expires. Never a token. */
export class Me extends Schema.Class<Me>("Me")({ key: Schema.String, expiresAt: Schema.String }) {}

/** The API: one group, protected as a whole by the session cookie. */
export class Api extends HttpApi.make("web-app").add(
  HttpApiGroup.make("me")
    .add(HttpApiEndpoint.get("me", "/api/me").addSuccess(Me).addError(HttpApiError.Unauthorized))
    .middleware(NodeSignInAuthentication.Authentication)
) {}

/** The handlers: `NodeSignIn.SignedIn` is there because of the middleware. */
const MeLive = HttpApiBuilder.group(Api, "me", (handlers) =>
  handlers.handle("me", () =>
    Effect.gen(function*() {
      const user = yield* NodeSignIn.SignedIn
      const tokens = yield* Effect.mapError(user.tokens, () => new HttpApiError.Unauthorized())
      return new Me({ key: user.key, expiresAt: DateTime.formatIso(tokens.expiresAt) })
    })))

/** A running API: its URL and the mock behind it. */
export interface Running {
  readonly url: string
  readonly server: FakeAuthorizationServer.FakeAuthorizationServer.Service
}

/** Runs the API on 127.0.0.1 (`port`, default 3001; 0 picks a free one) until the scope closes. */
export const make = (
  options: { readonly port?: number | undefined } = {}
): Effect.Effect<Running, HttpServerError.ServeError | OAuthConfig.InvalidConfig, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => Http.createServer(), {
      host: "127.0.0.1",
      port: options.port ?? 3001
    })
    const url = tcpUrl(server.address)
    const mock = yield* startMock({ _tag: "Mock" }, `${url}/callback`)
    const TokensLive = AccessTokens.layer().pipe(
      Layer.provideMerge(TokenStore.layerMemory),
      Layer.provideMerge(NodeOAuth.layer(mock.oauth))
    )
    const SignInLive = signInLayer({
      cookieKey: Redacted.make(Crypto.randomBytes(32).toString("base64url")),
      apiBaseUrl: mock.apiBaseUrl
    })
    const ApiLive = Layer.mergeAll(
      HttpApiBuilder.api(Api).pipe(Layer.provide(MeLive), Layer.provide(NodeSignInAuthentication.layer)),
      // The sign-in routes beside the API's endpoints.
      HttpApiBuilder.Router.use((router) => Effect.flatMap(NodeSignIn.router, router.concat))
    )
    const context = yield* Layer.build(
      ApiLive.pipe(
        Layer.provideMerge(Layer.mergeAll(HttpApiBuilder.Router.Live, HttpApiBuilder.Middleware.layer)),
        Layer.provideMerge(SignInLive),
        Layer.provideMerge(TokensLive),
        Layer.provideMerge(PendingAuthorizations.layerMemory),
        Layer.provideMerge(SeenTokens.layer),
        Layer.provideMerge(NodeHttpServer.layerContext)
      )
    )
    const app = yield* Effect.provide(HttpApiBuilder.httpApp, context)
    yield* server.serve(app).pipe(Effect.provide(context))
    return { url, server: mock.mock.server }
  })
