/**
 * A web application that signs its users in with Credal and calls the Credal API for them, with tokens
 * that refresh themselves. By default it starts an embedded mock of Credal on 127.0.0.1 (short access
 * token lifetimes, so that a refresh can be watched); with `OAUTH_*` variables it talks to the real
 * authorization server instead.
 *
 * - `GET /` — the home page, with "Sign in with Credal" (`/login?returnTo=/dashboard`).
 * - `GET /login`, `GET /callback`, `POST /logout` — `NodeSignIn`: the authorization code flow with PKCE,
 *   the session cookie, sign-out with revocation, and the failure pages ("You declined access").
 * - `GET /dashboard` — signed-in only: `whoami`, `sendMessage` and `fetchAgentResponse` through
 *   `OAuthHttpClient`, and when the access token expires and how many refreshes this app has seen.
 *
 * `make` runs the application in a scope and returns its URL and, with the mock, the fake server (its
 * counters and request log); `start` does the same from a promise, for tests; `optionsFromEnv` reads the
 * environment for `main.ts`.
 */
import { CredalClient } from "@credal/sdk"
import {
  AccessTokens,
  OAuthConfig,
  OAuthHttpClient,
  PendingAuthorizations,
  type TokenSet,
  TokenStore
} from "@effect-oauth/core"
import * as MockCredal from "@effect-oauth/example-mock-credal/MockCredal"
import { CredalSdk, NodeOAuth, NodeSignIn, NodeSignInFailure, NodeTokenStore } from "@effect-oauth/node"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import type * as HttpServerError from "@effect/platform/HttpServerError"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Crypto from "node:crypto"
import * as Http from "node:http"
import * as Os from "node:os"
import * as Path from "node:path"
import * as Identity from "./identity.js"
import * as Pages from "./pages.js"

// -----------------------------------------------------------------------------
// options
// -----------------------------------------------------------------------------

/** The embedded mock of Credal, on 127.0.0.1. */
export interface MockProvider {
  readonly _tag: "Mock"
  /** Default 0: a free port chosen by the system. */
  readonly port?: number | undefined
  /** `expires_in` of the mock's access tokens; default 60 seconds. */
  readonly accessTokenLifetime?: Duration.DurationInput | undefined
  /** Refresh this long before expiry; default a quarter of the lifetime, at most 10 seconds. */
  readonly refreshWindow?: Duration.DurationInput | undefined
  /** The name the consent page proposes; default `ada`. */
  readonly defaultUser?: string | undefined
  /** The mock is an OpenID provider too (ID Tokens, JWKS, userinfo), and the dashboard shows who signed in; default off. */
  readonly openid?: boolean | undefined
}

/** A real authorization server and API, such as Credal's. */
export interface RemoteProvider {
  readonly _tag: "Remote"
  readonly oauth: OAuthConfig.Options
  /** Default `https://app.credal.ai/api/v1`. */
  readonly apiBaseUrl: string
  /** Sent as `agentId` with the message (Credal needs one). */
  readonly agentId?: string | undefined
  /** The Credal SDK's base URL; default `CredalSdk.productionEnvironment`. */
  readonly sdkEnvironment?: string | undefined
}

export interface Options {
  /** The port on 127.0.0.1; default 3000; 0 picks a free one. */
  readonly port?: number | undefined
  /** Default: the embedded mock. */
  readonly provider?: MockProvider | RemoteProvider | undefined
  /** The token file (`NodeTokenStore`); without one, tokens live in memory. */
  readonly tokenFile?: string | undefined
  /** Seals the cookies: 32 random bytes in base64, or a passphrase of 16 characters or more; default: random. */
  readonly cookieKey?: Redacted.Redacted<string> | undefined
}

/** The embedded mock, for a test or a curious user: its origin and the fake server behind it. */
export interface Mock {
  readonly url: string
  readonly server: FakeAuthorizationServer.FakeAuthorizationServer.Service
  readonly accessTokenLifetime: Duration.Duration
}

/** A running application. */
export interface Running {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** Where the tokens are kept. */
  readonly tokenStore: string
  /** The authorization server, in words. */
  readonly provider: string
  readonly refreshWindow: Duration.Duration
  /** The embedded mock, unless a real provider is configured. */
  readonly mock: Mock | undefined
}

/** What starting can fail with: a port in use, an invalid configuration. */
export type StartError = HttpServerError.ServeError | OAuthConfig.InvalidConfig | OAuthConfig.DiscoveryError

/** The default token file: `<tmpdir>/effect-oauth-web-app/tokens.json`. */
export const defaultTokenFile: string = Path.join(Os.tmpdir(), "effect-oauth-web-app", "tokens.json")

/**
 * The options from the environment: `PORT` (3000), `TOKEN_FILE`, `COOKIE_KEY`; with `OAUTH_CLIENT_ID` set,
 * the real provider from `OAuthConfig.fromEnv` plus `API_BASE_URL` and `CREDAL_AGENT_ID`; otherwise the
 * mock with `MOCK_PORT` (random), `ACCESS_TOKEN_TTL` (60 seconds), `REFRESH_WINDOW`, `MOCK_USER`, `MOCK_OPENID` (false).
 */
export const optionsFromEnv: Effect.Effect<Options, ConfigError.ConfigError> = Effect.gen(function*() {
  const port = yield* Config.withDefault(Config.port("PORT"), 3000)
  const tokenFile = yield* Config.withDefault(Config.nonEmptyString("TOKEN_FILE"), defaultTokenFile)
  const cookieKey = yield* Config.option(
    Config.redacted(
      Config.validate(Config.string("COOKIE_KEY"), {
        message: "must be 32 random bytes in base64 or a passphrase of at least 16 characters",
        validation: (value) => value.length >= 16
      })
    )
  )
  const remote = Option.isSome(yield* Config.option(Config.string("OAUTH_CLIENT_ID")))
  const provider: MockProvider | RemoteProvider = remote
    ? {
      _tag: "Remote",
      oauth: yield* OAuthConfig.fromEnv,
      apiBaseUrl: yield* Config.withDefault(Config.string("API_BASE_URL"), OAuthConfig.credalEndpoints.apiBaseUrl),
      agentId: Option.getOrUndefined(yield* Config.option(Config.nonEmptyString("CREDAL_AGENT_ID"))),
      sdkEnvironment: Option.getOrUndefined(yield* Config.option(Config.nonEmptyString("CREDAL_SDK_ENVIRONMENT")))
    }
    : {
      _tag: "Mock",
      port: yield* Config.withDefault(Config.integer("MOCK_PORT"), 0),
      accessTokenLifetime: yield* Config.withDefault(Config.duration("ACCESS_TOKEN_TTL"), Duration.seconds(60)),
      refreshWindow: Option.getOrUndefined(yield* Config.option(Config.duration("REFRESH_WINDOW"))),
      defaultUser: yield* Config.withDefault(Config.nonEmptyString("MOCK_USER"), "ada"),
      openid: yield* Config.withDefault(Config.boolean("MOCK_OPENID"), false)
    }
  return { port, tokenFile, cookieKey: Option.getOrUndefined(cookieKey), provider }
})

// -----------------------------------------------------------------------------
// the protected API
// -----------------------------------------------------------------------------

const Whoami = Schema.Struct({ user: Schema.String, clientId: Schema.optional(Schema.String) })
const SentMessage = Schema.Struct({ jobId: Schema.String })
const AgentResponse = Schema.Struct({
  jobId: Schema.String,
  status: Schema.String,
  response: Schema.Struct({ message: Schema.String })
})

const greeting = "Hello from the effect-oauth web app example"

type ApiError =
  | HttpClientError.HttpClientError
  | AccessTokens.GetError
  | ParseResult.ParseError

/** A failed Credal SDK call, in words (its `CredalError` names the tag of a typed failure). */
class SdkError extends Schema.TaggedError<SdkError>()("SdkError", { reason: Schema.String }) {}

/** whoami, then sendMessage → jobId → fetchAgentResponse, all acting for `key`; and the Credal SDK's sendMessage. */
const callApi = (key: string, apiBaseUrl: string, agentId: string | undefined, sdkEnvironment: string) =>
  Effect.gen(function*() {
    const http = HttpClient.filterStatusOk(yield* OAuthHttpClient.make(key))
    const who = yield* Effect.flatMap(http.get(`${apiBaseUrl}/whoami`), HttpClientResponse.schemaBodyJson(Whoami))
    const sent = yield* HttpClientRequest.post(`${apiBaseUrl}/agents/sendMessage`).pipe(
      HttpClientRequest.bodyUnsafeJson(agentId === undefined ? { message: greeting } : { agentId, message: greeting }),
      http.execute,
      Effect.flatMap(HttpClientResponse.schemaBodyJson(SentMessage))
    )
    const answer = yield* HttpClientRequest.get(`${apiBaseUrl}/agents/fetchAgentResponse`).pipe(
      HttpClientRequest.setUrlParam("jobId", sent.jobId),
      http.execute,
      Effect.flatMap(HttpClientResponse.schemaBodyJson(AgentResponse))
    )
    // The Credal SDK, with the same key's tokens (one forced refresh and retry on a 401).
    const credal = new CredalClient(yield* CredalSdk.clientOptions(key, { environment: sdkEnvironment }))
    // Its failure is shown in its own row: the v1 answers above still stand.
    const sdk = yield* Effect.either(Effect.tryPromise({
      try: () =>
        credal.copilots.sendMessage({ agentId: agentId ?? "example-agent", message: greeting, userEmail: who.user }),
      catch: (error) => new SdkError({ reason: Option.getOrElse(CredalSdk.errorTag(error), () => "no answer") })
    }))
    const data: Pages.ApiData = {
      user: who.user,
      clientId: who.clientId,
      message: greeting,
      jobId: sent.jobId,
      status: answer.status,
      response: answer.response.message,
      sdkResponse: Either.match(sdk, {
        onLeft: (error) => `The Credal SDK call failed (${error.reason}).`,
        onRight: (answer) =>
          answer.sendChatResult.type === "ai_response_result"
            ? answer.sendChatResult.response.message
            : "(blocked by a policy)"
      })
    }
    return data
  })

/** Why the API calls failed, for a person; messages of this library's errors never hold a secret. */
const describeApiError = (error: ApiError): string => {
  switch (error._tag) {
    case "RequestError":
      return `The API could not be reached (${error.reason}).`
    case "ResponseError":
      return `The API answered HTTP ${error.response.status} to ${error.request.method} ${
        new URL(error.request.url).pathname
      }.`
    case "ParseError":
      return "The API sent an answer this application does not understand."
    default:
      return error.message
  }
}

// -----------------------------------------------------------------------------
// the application
// -----------------------------------------------------------------------------

/** What the app remembers per key: the issue time of the last token set it saw and how many it saw change. */
export interface Seen {
  readonly issuedAt: number
  readonly refreshes: number
  readonly lastRefreshAt: number | undefined
}

const noStore = { "cache-control": "no-store" } as const

const toSignIn = HttpServerResponse.redirect(Pages.signInHref, { status: 302, headers: noStore })

const wantsJson = (accept: string | undefined): boolean => {
  const types = (accept ?? "").toLowerCase().split(",").map((part) => part.split(";")[0]?.trim() ?? "")
  return types.includes("application/json") && !types.includes("text/html")
}

/** What the app remembers per key, shared by the sign-in's key function and the dashboard. */
export class SeenTokens extends Context.Tag("@effect-oauth/example-web-app/SeenTokens")<
  SeenTokens,
  Ref.Ref<ReadonlyMap<string, Seen>>
>() {
  static readonly layer = Layer.effect(SeenTokens, Ref.make<ReadonlyMap<string, Seen>>(new Map()))
}

/**
 * The sign-in layer: the session key is the Credal user, from `whoami` with the new access token, so the
 * token store holds one record per user (signing in again replaces it).
 */
export const signInLayer = (options: { readonly cookieKey: Redacted.Redacted<string>; readonly apiBaseUrl: string }) =>
  NodeSignIn.layer({
    cookieKeys: [{ id: "web-app", secret: options.cookieKey }],
    // The pending authorization waits server-side (one instance), so the token file holds only users' tokens.
    pendingStorage: "store",
    defaultReturnTo: "/dashboard",
    afterLogout: "/",
    key: (tokens) =>
      Effect.gen(function*() {
        const http = HttpClient.filterStatusOk(yield* HttpClient.HttpClient)
        const who = yield* HttpClientRequest.get(`${options.apiBaseUrl}/whoami`).pipe(
          HttpClientRequest.bearerToken(tokens.accessToken),
          http.execute,
          Effect.flatMap(HttpClientResponse.schemaBodyJson(Whoami)),
          Effect.scoped
        )
        const key = `credal:${who.user}`
        // A new sign-in: later refreshes are counted from these tokens.
        const seen = yield* SeenTokens
        const issuedAt = DateTime.toEpochMillis(tokens.issuedAt)
        yield* Ref.update(seen, (map) => new Map(map).set(key, { issuedAt, refreshes: 0, lastRefreshAt: undefined }))
        return key
      }),
    renderError: (failure) =>
      Effect.map(HttpServerRequest.HttpServerRequest, (request) =>
        wantsJson(request.headers["accept"])
          ? NodeSignInFailure.render(failure, request)
          : Pages.respond(
            failure.status,
            Pages.failure({ title: failure.title, message: failure.message, tag: failure.tag, signedIn: false })
          ))
  })

const makeRouter = (options: {
  readonly apiBaseUrl: string
  readonly agentId: string | undefined
  readonly sdkEnvironment: string
  readonly refreshWindow: Duration.Duration
  readonly provider: string
}) =>
  Effect.gen(function*() {
    const accessTokens = yield* AccessTokens.AccessTokens
    const seen = yield* SeenTokens
    const signIn = yield* NodeSignIn.NodeSignIn

    /** Records the token set of `key`; counts a refresh when its issue time changed since the last look. */
    const observe = (key: string, tokens: TokenSet.TokenSet) =>
      Ref.modify(seen, (map): readonly [Seen, ReadonlyMap<string, Seen>] => {
        const issuedAt = DateTime.toEpochMillis(tokens.issuedAt)
        const previous = map.get(key)
        const next: Seen = previous === undefined
          ? { issuedAt, refreshes: 0, lastRefreshAt: undefined }
          : previous.issuedAt === issuedAt
          ? previous
          : { issuedAt, refreshes: previous.refreshes + 1, lastRefreshAt: issuedAt }
        return [next, next === previous ? map : new Map(map).set(key, next)]
      })

    const home = Effect.map(
      NodeSignIn.currentKey,
      (key) => Pages.respond(200, Pages.home({ signedIn: Option.isSome(key), provider: options.provider }))
    )

    // Signed-in only: NodeSignIn.requireSignIn sends anyone else to /login and back here.
    const dashboard = NodeSignIn.requireSignIn(Effect.gen(function*() {
      const { key } = yield* NodeSignIn.SignedIn
      // The API first: a refresh that is due, or forced by a 401, happens here, before the times are shown.
      const api = yield* Effect.either(callApi(key, options.apiBaseUrl, options.agentId, options.sdkEnvironment))
      if (Either.isLeft(api) && api.left._tag === "ReauthorizationRequired") return toSignIn
      const tokens = yield* Effect.either(accessTokens.tokens(key))
      if (Either.isLeft(tokens)) {
        if (tokens.left._tag === "ReauthorizationRequired") return toSignIn
        return Pages.respond(
          502,
          Pages.failure({
            title: "Your tokens could not be renewed",
            message: tokens.left.message,
            tag: tokens.left._tag,
            signedIn: true
          })
        )
      }
      const set = tokens.right
      const counted = yield* observe(key, set)
      const expiresAt = DateTime.toEpochMillis(set.expiresAt)
      return Pages.respond(
        200,
        Pages.dashboard({
          api: Either.match(api, {
            onLeft: (error) => ({ _tag: "Failed", reason: describeApiError(error) }),
            onRight: (data) => ({ _tag: "Data", data })
          }),
          identity: Identity.identityOf(set),
          tokens: {
            expiresAt,
            issuedAt: DateTime.toEpochMillis(set.issuedAt),
            refreshAt: expiresAt - Duration.toMillis(options.refreshWindow),
            now: yield* Clock.currentTimeMillis,
            refreshCount: counted.refreshes,
            lastRefreshAt: counted.lastRefreshAt,
            refreshable: Option.isSome(set.refreshToken),
            scopes: set.scopes
          }
        })
      )
    }))

    return HttpRouter.empty.pipe(
      HttpRouter.get("/", home),
      HttpRouter.get("/dashboard", dashboard),
      HttpRouter.get("/favicon.ico", Effect.succeed(HttpServerResponse.empty({ status: 204 }))),
      HttpRouter.concat(signIn.router)
    )
  })

export const tcpUrl = (address: HttpServer.Address): string =>
  address._tag === "TcpAddress" ? `http://127.0.0.1:${address.port}` : "http://127.0.0.1"

/** A quarter of the lifetime, at most 10 seconds: long enough to see the token age, short enough to watch. */
const defaultRefreshWindow = (lifetime: Duration.Duration): Duration.Duration =>
  Duration.min(Duration.seconds(10), Duration.times(lifetime, 0.25))

/** Starts the mock with this application registered as its client, and the client configuration for it. */
export const startMock = (provider: MockProvider, redirectUri: string) =>
  Effect.gen(function*() {
    const lifetime = Duration.decode(provider.accessTokenLifetime ?? Duration.seconds(60))
    const refreshWindow = provider.refreshWindow === undefined
      ? defaultRefreshWindow(lifetime)
      : Duration.decode(provider.refreshWindow)
    // The mock runs in this process only, so its client secret is new at every start.
    const client: FakeAuthorizationServer.Client = {
      clientId: "effect-oauth-web-app",
      clientSecret: Crypto.randomBytes(32).toString("base64url"),
      redirectUris: [redirectUri],
      authMethods: ["client_secret_post"]
    }
    const mockOptions = {
      port: provider.port ?? 0,
      server: { clients: [client], accessTokenLifetime: lifetime, defaultUser: provider.defaultUser ?? "ada" }
    }
    const context = yield* Layer.build(
      provider.openid === true ? Identity.layerOpenIdMock(mockOptions) : MockCredal.layer(mockOptions)
    )
    const server = Context.get(context, FakeAuthorizationServer.FakeAuthorizationServer)
    const urls = server.endpoints
    const oauth = OAuthConfig.credal({
      clientId: client.clientId,
      clientSecret: Redacted.make(client.clientSecret),
      redirectUri,
      authorizationEndpoint: urls.authorization,
      tokenEndpoint: urls.token,
      revocationEndpoint: urls.revocation,
      issuer: urls.issuer,
      refreshWindow,
      ...(provider.openid === true ? { scopes: Identity.openIdScopes } : {})
    })
    const mock: Mock = { url: urls.issuer, server, accessTokenLifetime: lifetime }
    return {
      oauth,
      apiBaseUrl: urls.apiBase,
      agentId: undefined,
      sdkEnvironment: MockCredal.sdkEnvironment(urls.issuer),
      mock
    }
  })

/**
 * Runs the application on 127.0.0.1 until the scope closes: the mock first (when configured), then the
 * OAuth client, `AccessTokens` over the token store, and the routes.
 */
export const make = (options: Options = {}): Effect.Effect<Running, StartError, Scope.Scope> =>
  Effect.gen(function*() {
    const server = yield* NodeHttpServer.make(() => Http.createServer(), {
      host: "127.0.0.1",
      port: options.port ?? 3000
    })
    const url = tcpUrl(server.address)
    const provider = options.provider ?? { _tag: "Mock" }
    const setup = provider._tag === "Mock"
      ? yield* startMock(provider, `${url}/callback`)
      : {
        oauth: provider.oauth,
        apiBaseUrl: provider.apiBaseUrl,
        agentId: provider.agentId,
        sdkEnvironment: provider.sdkEnvironment ?? CredalSdk.productionEnvironment,
        mock: undefined
      }

    const store = options.tokenFile === undefined
      ? TokenStore.layerMemory
      : NodeTokenStore.layerNode({ path: options.tokenFile })
    // The live HttpClient stays in the context, so AccessTokens over it makes authorized calls.
    const TokensLive = AccessTokens.layer().pipe(
      Layer.provideMerge(store),
      Layer.provideMerge(Identity.layerClient(setup.oauth)),
      Layer.provideMerge(NodeOAuth.layerHttpClient)
    )
    const SignInLive = signInLayer({
      cookieKey: options.cookieKey ?? Redacted.make(Crypto.randomBytes(32).toString("base64url")),
      apiBaseUrl: setup.apiBaseUrl
    })
    const context = yield* Layer.build(
      SignInLive.pipe(
        Layer.provideMerge(TokensLive),
        Layer.provideMerge(PendingAuthorizations.layerMemory),
        Layer.provideMerge(SeenTokens.layer)
      )
    )
    const config = Context.get(context, OAuthConfig.OAuthConfig)
    const providerName = setup.mock === undefined
      ? `${config.authorizationEndpoint.origin} (API ${setup.apiBaseUrl})`
      : `the embedded mock Credal at ${setup.mock.url}`
    const router = yield* makeRouter({
      apiBaseUrl: setup.apiBaseUrl,
      agentId: setup.agentId,
      sdkEnvironment: setup.sdkEnvironment,
      refreshWindow: config.refreshWindow,
      provider: providerName
    }).pipe(Effect.provide(context))
    yield* server.serve(router).pipe(Effect.provide(context))
    return {
      url,
      tokenStore: options.tokenFile === undefined ? "memory" : `file ${options.tokenFile}`,
      provider: providerName,
      refreshWindow: config.refreshWindow,
      mock: setup.mock
    }
  })

/**
 * @category tags
 */
export class WebApp extends Context.Tag("@effect-oauth/example-web-app/WebApp")<WebApp, Running>() {}

/** The running application as a layer: it stops when the layer is released. */
export const layer = (options?: Options): Layer.Layer<WebApp, StartError> => Layer.scoped(WebApp, make(options))

/** A running application started from a promise, and how to stop it. */
export interface Started extends Running {
  readonly close: () => Promise<void>
}

/** Starts the application outside of Effect (for tests): resolves once it listens. */
export const start = async (options?: Options): Promise<Started> => {
  const scope = Effect.runSync(Scope.make())
  const running = await Effect.runPromiseExit(Scope.extend(make(options), scope))
  if (Exit.isFailure(running)) {
    await Effect.runPromise(Scope.close(scope, running))
    return Effect.runPromise(Effect.failCause(running.cause))
  }
  return { ...running.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

/** What `main.ts` prints: where the app and the mock listen, and how tokens are kept. Never a secret. */
export const banner = (app: Running): string =>
  [
    "effect-oauth web app example",
    "",
    `  app              ${app.url}`,
    app.mock === undefined
      ? `  provider         ${app.provider}`
      : `  mock Credal      ${app.mock.url} (access tokens live ${
        Duration.format(app.mock.accessTokenLifetime)
      }, consent page at ${app.mock.server.endpoints.authorization})`,
    `  refresh window   ${Duration.format(app.refreshWindow)} before expiry`,
    `  tokens           ${app.tokenStore}`,
    "",
    `Open ${app.url} and choose "Sign in with Credal". Press Ctrl-C to stop.`
  ].join("\n")
