/**
 * Integration tests against an independent OAuth 2.0 server: `oidc-provider` (panva), started on a
 * random loopback port for each test. The tests play the user at the browser (its development login
 * and consent forms, a cookie jar over `fetch`) and our live Node client plays the application.
 */
import { AccessTokens, OAuthClient, OAuthConfig, OAuthError, TokenStore } from "@effect-oauth/core"
import { NodeOAuth } from "@effect-oauth/node"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import Provider, { type Configuration } from "oidc-provider"

const apiScope = "api:agent:message:*"
const apiResource = "https://api.example.test/"
const accessTokenTtl = 60

/** Secrets with the characters that client_secret_basic must form-encode before Base64 (SPEC S11). */
const basicClient = { id: "app:basic", secret: "s3:cr%t+ /&=" } as const
const postClient = { id: "app-post", secret: "p0st:s%cr+t" } as const

interface SeenRequest {
  readonly method: string
  readonly path: string
  readonly query: string
  readonly headers: Http.IncomingHttpHeaders
}

interface RunningProvider {
  readonly provider: Provider
  readonly issuer: string
  readonly redirectUri: string
  /** Every request that reached the provider, as seen on the socket (never its body). */
  readonly seen: Array<SeenRequest>
}

const configuration = (redirectUri: string, ttl: number): Configuration => ({
  clients: [
    {
      client_id: basicClient.id,
      client_secret: basicClient.secret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic"
    },
    {
      client_id: postClient.id,
      client_secret: postClient.secret,
      redirect_uris: [redirectUri],
      grant_types: ["authorization_code", "refresh_token"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_post"
    }
  ],
  pkce: { required: () => true },
  // Rotation on every use; a reused refresh token revokes the grant (the provider's default policy).
  rotateRefreshToken: true,
  issueRefreshToken: () => true,
  scopes: [apiScope],
  findAccount: (_ctx, sub) => ({ accountId: sub, claims: () => ({ sub }) }),
  features: {
    devInteractions: { enabled: true },
    revocation: { enabled: true },
    // A non-OpenID scope needs a resource server: the API, with opaque access tokens.
    resourceIndicators: {
      enabled: true,
      defaultResource: () => apiResource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({ scope: apiScope, accessTokenFormat: "opaque", accessTokenTTL: ttl })
    }
  },
  ttl: {
    AccessToken: ttl,
    AuthorizationCode: 600,
    RefreshToken: 86_400,
    Interaction: 600,
    Session: 3600,
    Grant: 86_400
  },
  renderError: (ctx, out) => {
    ctx.type = "json"
    ctx.body = out
  }
})

/**
 * Access tokens of the tests that wait for a refresh to fall due: the refresh window is at most half a
 * token's lifetime (SPEC S35), so these are due 2 s after issue.
 */
const shortTtl = 4

/** oidc-provider on 127.0.0.1 with a random port and access tokens living `ttl` seconds, closed when the scope closes. */
const startProviderWith = (ttl: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly running: RunningProvider; readonly server: Http.Server }>((resume) => {
      const seen: Array<SeenRequest> = []
      const server = Http.createServer()
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        const issuer = `http://127.0.0.1:${port}`
        const redirectUri = `${issuer}/cb`
        const provider = new Provider(issuer, configuration(redirectUri, ttl))
        const handle = provider.callback()
        server.on("request", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
          const url = new URL(request.url ?? "/", issuer)
          seen.push({ method: request.method ?? "", path: url.pathname, query: url.search, headers: request.headers })
          void handle(request, response)
        })
        resume(Effect.succeed({ running: { provider, issuer, redirectUri, seen }, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ running }) => running))

/** oidc-provider with access tokens living `accessTokenTtl` seconds. */
const startProvider = startProviderWith(accessTokenTtl)

const Discovery = Schema.Struct({
  issuer: Schema.String,
  authorization_endpoint: Schema.String,
  token_endpoint: Schema.String,
  revocation_endpoint: Schema.String,
  code_challenge_methods_supported: Schema.Array(Schema.String),
  token_endpoint_auth_methods_supported: Schema.Array(Schema.String),
  authorization_response_iss_parameter_supported: Schema.Boolean
})

/** The provider's metadata, read over HTTP like any client would. */
const discover = (issuer: string) =>
  Effect.promise(() => fetch(`${issuer}/.well-known/openid-configuration`).then((response) => response.json())).pipe(
    Effect.flatMap(Schema.decodeUnknown(Discovery)),
    Effect.orDie
  )

/** Our client's options for one of the provider's clients, with endpoints from its metadata. */
const optionsFor = (
  running: RunningProvider,
  client: typeof basicClient | typeof postClient,
  overrides: Partial<OAuthConfig.Options> = {}
) =>
  Effect.map(discover(running.issuer), (metadata): OAuthConfig.Options => ({
    clientId: client.id,
    clientSecret: Redacted.make(client.secret),
    clientAuthMethod: client === basicClient ? "client_secret_basic" : "client_secret_post",
    authorizationEndpoint: metadata.authorization_endpoint,
    tokenEndpoint: metadata.token_endpoint,
    revocationEndpoint: metadata.revocation_endpoint,
    redirectUri: running.redirectUri,
    scopes: [apiScope],
    issuer: metadata.issuer,
    ...overrides
  }))

/** The live client, built in the test's scope. */
const clientFor = (options: OAuthConfig.Options) =>
  Effect.map(Layer.build(NodeOAuth.layer(options)), Context.get(OAuthClient.OAuthClient))

/** The live client with `AccessTokens` over a memory store, built in the test's scope. */
const accessTokensFor = (options: OAuthConfig.Options, tokensOptions: AccessTokens.Options) =>
  Effect.map(
    Layer.build(
      AccessTokens.layer(tokensOptions).pipe(
        Layer.provideMerge(TokenStore.layerMemory),
        Layer.provideMerge(NodeOAuth.layer(options))
      )
    ),
    (context) => ({
      client: Context.get(context, OAuthClient.OAuthClient),
      tokens: Context.get(context, AccessTokens.AccessTokens),
      store: Context.get(context, TokenStore.TokenStore)
    })
  )

/** The live client configured by `OAuthConfig.layerDiscovery` from the issuer alone, built in the test's scope. */
const discoveredClientFor = (issuer: string, client: typeof basicClient | typeof postClient, redirectUri: string) =>
  Effect.map(
    Layer.build(
      OAuthClient.layer.pipe(
        Layer.provideMerge(OAuthConfig.layerDiscovery(issuer, {
          clientId: client.id,
          clientSecret: Redacted.make(client.secret),
          redirectUri,
          scopes: [apiScope]
        })),
        Layer.provide(NodeOAuth.layerHttpClient)
      )
    ),
    Context.get(OAuthClient.OAuthClient)
  )

const setCookies = (jar: Map<string, string>, response: Response) => {
  for (const cookie of response.headers.getSetCookie()) {
    const [pair = ""] = cookie.split(";")
    const at = pair.indexOf("=")
    const name = pair.slice(0, at).trim()
    const value = pair.slice(at + 1).trim()
    if (value === "" || /expires=Thu, 01 Jan 1970/i.test(cookie)) jar.delete(name)
    else jar.set(name, value)
  }
}

/**
 * The user at the browser: follows the authorization request through the provider's development
 * login ("ann", any password) and consent forms, or cancels at the login form, and returns the
 * callback URL from the Location header that points at the redirect URI. The redirect URI itself is
 * never fetched.
 */
const userAgent = (authorizationUrl: URL, redirectUri: string, decision: "approve" | "cancel" = "approve") =>
  Effect.gen(function*() {
    const jar = new Map<string, string>()
    const send = (url: string, init: { readonly method?: string; readonly body?: URLSearchParams } = {}) =>
      Effect.promise(async () => {
        const response = await fetch(url, {
          method: init.method ?? "GET",
          redirect: "manual",
          headers: {
            cookie: Array.from(jar, ([name, value]) => `${name}=${value}`).join("; "),
            ...(init.body === undefined ? {} : { "content-type": "application/x-www-form-urlencoded" })
          },
          ...(init.body === undefined ? {} : { body: init.body })
        })
        setCookies(jar, response)
        return { response, text: await response.text() }
      })
    let current = yield* send(authorizationUrl.href)
    for (let step = 0; step < 12; step++) {
      const location = current.response.headers.get("location")
      if (current.response.status >= 300 && current.response.status < 400 && location !== null) {
        const next = new URL(location, authorizationUrl)
        if (next.href.startsWith(`${redirectUri}?`)) return next
        current = yield* send(next.href)
        continue
      }
      const action = /<form[^>]*action="([^"]+)"/.exec(current.text)?.[1]
      const prompt = /name="prompt" value="([^"]+)"/.exec(current.text)?.[1]
      if (current.response.status !== 200 || action === undefined || prompt === undefined) {
        return yield* Effect.dieMessage(`unexpected page from the provider: HTTP ${current.response.status}`)
      }
      if (decision === "cancel") {
        current = yield* send(`${action}/abort`)
      } else {
        const form = new URLSearchParams({ prompt })
        if (prompt === "login") {
          form.set("login", "ann")
          form.set("password", "any")
        }
        current = yield* send(action, { method: "POST", body: form })
      }
    }
    return yield* Effect.dieMessage("the provider never redirected to the redirect URI")
  })

/** Authorization URL → the user approves → callback → code exchange, with our client. */
const signIn = (client: OAuthClient.Service, running: RunningProvider) =>
  Effect.gen(function*() {
    const { pending, url } = yield* client.authorize()
    const callbackUrl = yield* userAgent(url, running.redirectUri)
    const tokens = yield* client.complete(callbackUrl, pending)
    return { tokens, callbackUrl, pending, url }
  })

const tokenRequests = (running: RunningProvider) => running.seen.filter((request) => request.path === "/token")

const refreshValue = (tokens: { readonly refreshToken: Option.Option<Redacted.Redacted<string>> }): string =>
  Redacted.value(Option.getOrThrow(tokens.refreshToken))

/** What the provider knows of an access token it issued: `undefined` once it is revoked or unknown. */
const serverAccessToken = (running: RunningProvider, token: Redacted.Redacted<string>) =>
  Effect.promise(() => running.provider.AccessToken.find(Redacted.value(token)))

const serverRefreshToken = (running: RunningProvider, token: string) =>
  Effect.promise(() => running.provider.RefreshToken.find(token))

describe("oidc-provider (independent server on loopback)", () => {
  it.scopedLive("the authorization code flow with client_secret_basic and PKCE S256 (S3, S10, S11, S14)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const metadata = yield* discover(running.issuer)
      assert.deepStrictEqual(metadata.code_challenge_methods_supported, ["S256"])
      const client = yield* clientFor(yield* optionsFor(running, basicClient))
      const before = yield* DateTime.now
      const { tokens, url } = yield* signIn(client, running)
      const after = yield* DateTime.now

      assert.strictEqual(url.searchParams.get("code_challenge_method"), "S256")
      // The provider issued these tokens to this client, for the API scope.
      const issued = yield* serverAccessToken(running, tokens.accessToken)
      assert.isDefined(issued)
      assert.strictEqual(issued?.clientId, basicClient.id)
      assert.strictEqual(issued?.scope, apiScope)
      assert.isTrue(Option.isSome(tokens.refreshToken))
      assert.deepStrictEqual(tokens.scopes, [apiScope])
      // S14: expiry from the moment the request was sent, with the server's expires_in.
      assert.isTrue(DateTime.lessThanOrEqualTo(before, tokens.issuedAt))
      assert.isTrue(DateTime.lessThanOrEqualTo(tokens.issuedAt, after))
      assert.strictEqual(
        DateTime.toEpochMillis(tokens.expiresAt) - DateTime.toEpochMillis(tokens.issuedAt),
        accessTokenTtl * 1000
      )
      // S10, S11 on the wire: one form POST, JSON accepted, Basic credentials, nothing in the URL.
      const requests = tokenRequests(running)
      assert.strictEqual(requests.length, 1)
      const [request] = requests
      assert.strictEqual(request?.method, "POST")
      assert.strictEqual(request?.query, "")
      assert.strictEqual(request?.headers["content-type"], "application/x-www-form-urlencoded")
      assert.include(request?.headers["accept"] ?? "", "application/json")
      assert.match(request?.headers["authorization"] ?? "", /^Basic /)
    }))

  it.scopedLive("the authorization code flow with client_secret_post (S11)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, postClient))
      const { tokens } = yield* signIn(client, running)

      const issued = yield* serverAccessToken(running, tokens.accessToken)
      assert.strictEqual(issued?.clientId, postClient.id)
      const [request] = tokenRequests(running)
      assert.strictEqual(request?.headers["authorization"], undefined)
      assert.strictEqual(request?.query, "")
      assert.strictEqual(request?.headers["content-type"], "application/x-www-form-urlencoded")
    }))

  it.scopedLive("a wrong client secret gives ErrorResponse invalid_client with HTTP 401 (S11, S16)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(
        yield* optionsFor(running, basicClient, { clientSecret: Redacted.make(`${basicClient.secret}x`) })
      )
      const { pending, url } = yield* client.authorize()
      const callbackUrl = yield* userAgent(url, running.redirectUri)
      const error = yield* Effect.flip(client.complete(callbackUrl, pending))
      assert.instanceOf(error, OAuthError.ErrorResponse)
      assert.strictEqual((error as OAuthError.ErrorResponse).error, "invalid_client")
      assert.strictEqual((error as OAuthError.ErrorResponse).status, 401)
      assert.notInclude(error.message, basicClient.secret)
    }))

  it.scopedLive("an authorization request without PKCE is refused by the server and surfaces as AuthorizationDenied (S3, S7)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, basicClient, { pkce: false }))
      const { pending, url } = yield* client.authorize()
      assert.isFalse(url.searchParams.has("code_challenge"))
      const callbackUrl = yield* userAgent(url, running.redirectUri)
      const error = yield* Effect.flip(client.complete(callbackUrl, pending))
      assert.instanceOf(error, OAuthError.AuthorizationDenied)
      assert.strictEqual((error as OAuthError.AuthorizationDenied).error, "invalid_request")
      assert.include((error as OAuthError.AuthorizationDenied).description ?? "", "PKCE")
      assert.strictEqual(tokenRequests(running).length, 0)
    }))

  it.scopedLive("a user who cancels at the login form gives AuthorizationDenied access_denied (S7)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, basicClient))
      const { pending, url } = yield* client.authorize()
      const callbackUrl = yield* userAgent(url, running.redirectUri, "cancel")
      const error = yield* Effect.flip(client.complete(callbackUrl, pending))
      assert.instanceOf(error, OAuthError.AuthorizationDenied)
      assert.strictEqual((error as OAuthError.AuthorizationDenied).error, "access_denied")
      assert.strictEqual(tokenRequests(running).length, 0)
    }))

  it.scopedLive("OAuthClient.refresh rotates the refresh token on every round (S17)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, basicClient))
      let { tokens } = yield* signIn(client, running)
      const refreshTokens = [refreshValue(tokens)]
      const accessTokens = [Redacted.value(tokens.accessToken)]
      for (let round = 1; round <= 4; round++) {
        tokens = yield* client.refresh(tokens)
        assert.notInclude(refreshTokens, refreshValue(tokens), `round ${round} returned an old refresh token`)
        assert.notInclude(
          accessTokens,
          Redacted.value(tokens.accessToken),
          `round ${round} returned an old access token`
        )
        refreshTokens.push(refreshValue(tokens))
        accessTokens.push(Redacted.value(tokens.accessToken))
        assert.isDefined(yield* serverAccessToken(running, tokens.accessToken))
        assert.deepStrictEqual(tokens.scopes, [apiScope])
      }
      // The provider consumed every refresh token but the last.
      for (const old of refreshTokens.slice(0, -1)) {
        assert.isDefined((yield* serverRefreshToken(running, old))?.consumed)
      }
      assert.isUndefined((yield* serverRefreshToken(running, refreshTokens[refreshTokens.length - 1] ?? ""))?.consumed)
      assert.strictEqual(tokenRequests(running).length, 1 + 4)
    }))

  it.scopedLive("AccessTokens.get refreshes with rotation over several rounds, the store always holding the newest (S17, S18, S35)", () =>
    Effect.gen(function*() {
      const running = yield* startProviderWith(shortTtl)
      // A refresh window longer than the access token's life is cut to half of it (SPEC S35): each
      // token is due 2 s after issue, and is then valid for less than `minValidity`, so `get` waits.
      const { client, store, tokens } = yield* accessTokensFor(
        yield* optionsFor(running, basicClient),
        { refreshWindow: "10 minutes" }
      )
      const signedIn = (yield* signIn(client, running)).tokens
      yield* tokens.save("ann", signedIn)
      const refreshTokens = [refreshValue(signedIn)]
      for (let round = 1; round <= 3; round++) {
        yield* Effect.sleep(`${shortTtl * 500 + 100} millis`)
        const accessToken = yield* tokens.get("ann")
        const stored = Option.getOrThrow(yield* store.get("ann")).tokens
        assert.strictEqual(Redacted.value(stored.accessToken), Redacted.value(accessToken))
        assert.notInclude(refreshTokens, refreshValue(stored), `round ${round} stored an old refresh token`)
        refreshTokens.push(refreshValue(stored))
        const issued = yield* serverAccessToken(running, accessToken)
        assert.strictEqual(issued?.clientId, basicClient.id)
      }
      for (const old of refreshTokens.slice(0, -1)) {
        assert.isDefined((yield* serverRefreshToken(running, old))?.consumed)
      }
      assert.strictEqual(tokenRequests(running).length, 1 + 3)
    }))

  it.scopedLive("two AccessTokens sharing a store refresh once, so the server never sees a reused refresh token (S19, S20)", () =>
    Effect.gen(function*() {
      const running = yield* startProviderWith(shortTtl)
      const shared = yield* Layer.build(
        Layer.merge(NodeOAuth.layer(yield* optionsFor(running, basicClient)), TokenStore.layerMemory)
      )
      // Two "processes": separate caches and flights, one store and its lock. A refresh is due 2 s
      // after issue, and the tokens it brings are fresh for another 2 s.
      const options = { refreshWindow: `${shortTtl - 2} seconds` } as const
      const first = yield* Effect.provide(AccessTokens.make(options), shared)
      const second = yield* Effect.provide(AccessTokens.make(options), shared)
      const client = Context.get(shared, OAuthClient.OAuthClient)
      yield* first.save("ann", (yield* signIn(client, running)).tokens)
      yield* Effect.sleep("2100 millis")
      const [a, b, c, d] = yield* Effect.all(
        [first.get("ann"), second.get("ann"), first.get("ann"), second.get("ann")],
        { concurrency: "unbounded" }
      )
      assert.deepStrictEqual([b, c, d].map(Redacted.value), [a, a, a].map(Redacted.value))
      assert.strictEqual(tokenRequests(running).length, 1 + 1)
      // The grant is alive: no refresh token was used twice.
      assert.isDefined(yield* serverAccessToken(running, a))
      const stored = Option.getOrThrow(yield* Context.get(shared, TokenStore.TokenStore).get("ann")).tokens
      const next = yield* client.refresh(stored)
      assert.notStrictEqual(refreshValue(next), refreshValue(stored))
    }))

  it.scopedLive("a reused, rotated refresh token gives ReauthorizationRequired refresh-token-rejected (S21)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, basicClient))
      const first = (yield* signIn(client, running)).tokens
      const second = yield* client.refresh(first)
      const error = yield* Effect.flip(client.refresh(first))
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
      // The provider treats the reuse as theft and revokes the grant: the rotated token is dead too.
      const after = yield* Effect.flip(client.refresh(second))
      assert.instanceOf(after, OAuthError.ReauthorizationRequired)
      assert.isUndefined(yield* serverAccessToken(running, second.accessToken))
    }))

  it.scopedLive("AccessTokens: a refresh token rotated elsewhere clears the key with ReauthorizationRequired (S21)", () =>
    Effect.gen(function*() {
      const running = yield* startProviderWith(shortTtl)
      const { client, store, tokens } = yield* accessTokensFor(
        yield* optionsFor(running, basicClient),
        { refreshWindow: "10 minutes" }
      )
      const signedIn = (yield* signIn(client, running)).tokens
      yield* tokens.save("ann", signedIn)
      // Someone uses the stored refresh token behind the store's back.
      yield* client.refresh(signedIn)
      // Once the stored token is due (half its life, SPEC S35), get refreshes with the rotated token.
      yield* Effect.sleep(`${shortTtl * 500 + 100} millis`)
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).key, "ann")
      assert.isTrue(Option.isNone(yield* store.get("ann")))
    }))

  it.scopedLive("OAuthClient.revoke ends the grant: the refresh token no longer works (S30)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, basicClient))
      const { tokens } = yield* signIn(client, running)
      const outcome = yield* client.revoke(Option.getOrThrow(tokens.refreshToken), "refresh_token")
      assert.strictEqual(outcome, "revoked")
      const revocations = running.seen.filter((request) => request.path === "/token/revocation")
      assert.strictEqual(revocations.length, 1)
      assert.strictEqual(revocations[0]?.method, "POST")
      assert.strictEqual(revocations[0]?.query, "")
      assert.match(revocations[0]?.headers["authorization"] ?? "", /^Basic /)
      const error = yield* Effect.flip(client.refresh(tokens))
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
      assert.isUndefined(yield* serverAccessToken(running, tokens.accessToken))
    }))

  it.scopedLive("AccessTokens.signOut revokes the refresh token with client_secret_post and removes the tokens (S30)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const { client, store, tokens } = yield* accessTokensFor(yield* optionsFor(running, postClient), {})
      const signedIn = (yield* signIn(client, running)).tokens
      yield* tokens.save("ann", signedIn)
      assert.strictEqual(yield* tokens.signOut("ann"), "revoked")
      const [revocation] = running.seen.filter((request) => request.path === "/token/revocation")
      assert.strictEqual(revocation?.headers["authorization"], undefined)
      assert.isTrue(Option.isNone(yield* store.get("ann")))
      const gone = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(gone, OAuthError.ReauthorizationRequired)
      assert.strictEqual((gone as OAuthError.ReauthorizationRequired).reason, "no-tokens")
      const error = yield* Effect.flip(client.refresh(signedIn))
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
      assert.strictEqual((error as OAuthError.ReauthorizationRequired).reason, "refresh-token-rejected")
    }))

  it.scopedLive("the provider sends iss (RFC 9207) equal to its issuer, and a required iss is accepted (S8)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const metadata = yield* discover(running.issuer)
      assert.isTrue(metadata.authorization_response_iss_parameter_supported)
      assert.strictEqual(metadata.issuer, running.issuer)
      const client = yield* clientFor(yield* optionsFor(running, basicClient, { requireIssuerParameter: true }))
      const { callbackUrl, tokens } = yield* signIn(client, running)
      assert.strictEqual(callbackUrl.searchParams.get("iss"), running.issuer)
      assert.isDefined(yield* serverAccessToken(running, tokens.accessToken))
    }))

  it.scopedLive("a wrong configured issuer gives IssuerMismatch before any token request (S8)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, basicClient, { issuer: "https://other.example.com" }))
      const { pending, url } = yield* client.authorize()
      const callbackUrl = yield* userAgent(url, running.redirectUri)
      const error = yield* Effect.flip(client.complete(callbackUrl, pending))
      assert.instanceOf(error, OAuthError.IssuerMismatch)
      assert.strictEqual((error as OAuthError.IssuerMismatch).expected, "https://other.example.com")
      assert.strictEqual((error as OAuthError.IssuerMismatch).received, running.issuer)
      assert.strictEqual(tokenRequests(running).length, 0)
      // The code never left the client: the provider still redeems it.
      const code = Redacted.make(callbackUrl.searchParams.get("code") ?? "")
      const tokens = yield* client.exchange(code, pending)
      assert.isDefined(yield* serverAccessToken(running, tokens.accessToken))
    }))

  it.scopedLive("a replayed authorization code gives ErrorResponse invalid_grant; a replayed callback sends nothing (S2, S12)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* clientFor(yield* optionsFor(running, basicClient))
      const { callbackUrl, pending, tokens } = yield* signIn(client, running)
      // Our client refuses the second callback on its own, without a token request.
      const again = yield* Effect.flip(client.complete(callbackUrl, pending))
      assert.instanceOf(again, OAuthError.StateMismatch)
      assert.strictEqual((again as OAuthError.StateMismatch).reason, "reused")
      assert.strictEqual(tokenRequests(running).length, 1)
      // Sending the code again on purpose: the server refuses it and revokes what it issued.
      const code = Redacted.make(callbackUrl.searchParams.get("code") ?? "")
      const error = yield* Effect.flip(client.exchange(code, pending))
      assert.instanceOf(error, OAuthError.ErrorResponse)
      assert.strictEqual((error as OAuthError.ErrorResponse).error, "invalid_grant")
      assert.strictEqual((error as OAuthError.ErrorResponse).status, 400)
      assert.isUndefined(yield* serverAccessToken(running, tokens.accessToken))
    }))

  it.scopedLive("discovery against an independent server (S31)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const client = yield* discoveredClientFor(running.issuer, basicClient, running.redirectUri)
      const wellKnown = running.seen.filter((request) => request.path.startsWith("/.well-known/"))
      assert.deepStrictEqual(wellKnown.map((request) => request.path), ["/.well-known/oauth-authorization-server"])
      assert.strictEqual(client.config.authorizationEndpoint.href, `${running.issuer}/auth`)
      assert.strictEqual(client.config.tokenEndpoint.href, `${running.issuer}/token`)
      assert.deepStrictEqual(
        Option.map(client.config.revocationEndpoint, (url) => url.href),
        Option.some(`${running.issuer}/token/revocation`)
      )
      assert.deepStrictEqual(client.config.issuer, Option.some(running.issuer))
      // The provider announces RFC 9207, so iss becomes required.
      assert.isTrue(client.config.requireIssuerParameter)
      assert.strictEqual(client.config.clientAuthMethod, "client_secret_basic")
      // The discovered configuration drives a whole sign-in, refresh and revocation.
      const { tokens } = yield* signIn(client, running)
      const refreshed = yield* client.refresh(tokens)
      assert.strictEqual(yield* client.revoke(Option.getOrThrow(refreshed.refreshToken)), "revoked")
      const error = yield* Effect.flip(client.refresh(refreshed))
      assert.instanceOf(error, OAuthError.ReauthorizationRequired)
    }))

  it.scopedLive("discovery rejects a document naming another issuer than the one asked for (S31)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      // RFC 8414 §3.3: the document's issuer must be identical; the provider's has no trailing slash.
      const error = yield* Effect.flip(discoveredClientFor(`${running.issuer}/`, basicClient, running.redirectUri))
      assert.instanceOf(error, OAuthConfig.DiscoveryError)
      assert.strictEqual((error as OAuthConfig.DiscoveryError).reason, "IssuerMismatch")
      assert.strictEqual(
        (error as OAuthConfig.DiscoveryError).url,
        `${running.issuer}/.well-known/oauth-authorization-server`
      )
    }))
})
