/**
 * Integration tests against an independent OpenID provider: `oidc-provider` (panva) on a random
 * loopback port, with signing keys generated for each start. The tests play the user at the browser
 * (its development login and consent forms over `fetch`), and our live Node client with ID Token
 * validation plays the application.
 */
import { AccessTokens, OAuthClient, OAuthConfig, type OAuthError, TokenStore } from "@effect-oauth/core"
import { NodeOAuth } from "@effect-oauth/node"
import { IdTokenClaims, IdTokens, JwksCache, UserInfo } from "@effect-oauth/oidc"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Jose from "jose"
import * as Http from "node:http"
import type { AddressInfo } from "node:net"
import Provider, { type Configuration } from "oidc-provider"

const client = { id: "oidc-app", secret: "oidc-s3cr%t+ /&=" } as const

interface SigningKey {
  readonly jwk: Jose.JWK
  readonly privateKey: Jose.CryptoKey
}

const generateKey = Effect.promise(async (): Promise<SigningKey> => {
  const { privateKey } = await Jose.generateKeyPair("RS256", { extractable: true })
  const jwk = await Jose.exportJWK(privateKey)
  return { jwk: { ...jwk, kid: crypto.randomUUID(), alg: "RS256", use: "sig" }, privateKey }
})

const configuration = (redirectUri: string, key: SigningKey): Configuration => ({
  clients: [{
    client_id: client.id,
    client_secret: client.secret,
    redirect_uris: [redirectUri],
    grant_types: ["authorization_code", "refresh_token"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic"
  }],
  jwks: { keys: [key.jwk] },
  pkce: { required: () => true },
  rotateRefreshToken: true,
  issueRefreshToken: () => true,
  scopes: ["openid", "profile", "email"],
  claims: { openid: ["sub"], profile: ["name"], email: ["email", "email_verified"] },
  findAccount: (_ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, name: `User ${sub}`, email: `${sub}@example.test`, email_verified: true })
  }),
  features: { devInteractions: { enabled: true } },
  ttl: {
    AccessToken: 3600,
    AuthorizationCode: 600,
    IdToken: 3600,
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

interface Running {
  readonly issuer: string
  readonly redirectUri: string
  /** The current signing key. */
  readonly key: () => SigningKey
  /** Paths of every request that reached the provider, across restarts. */
  readonly seen: Array<string>
  /**
   * Restarts the provider behind the same listener (as behind a load balancer): a new instance, new
   * signing keys, no state kept.
   */
  readonly restart: Effect.Effect<void>
}

/** oidc-provider on 127.0.0.1 with a random port, closed when the scope closes. */
const startProvider = Effect.flatMap(generateKey, (first) =>
  Effect.acquireRelease(
    Effect.async<{ readonly running: Running; readonly server: Http.Server }>((resume) => {
      const seen: Array<string> = []
      const server = Http.createServer()
      server.listen(0, "127.0.0.1", () => {
        const { port } = server.address() as AddressInfo
        const issuer = `http://127.0.0.1:${port}`
        const redirectUri = `${issuer}/cb`
        let key = first
        let handle = new Provider(issuer, configuration(redirectUri, key)).callback()
        server.on("request", (request: Http.IncomingMessage, response: Http.ServerResponse) => {
          seen.push(new URL(request.url ?? "/", issuer).pathname)
          void handle(request, response)
        })
        const restart = Effect.map(generateKey, (next) => {
          key = next
          handle = new Provider(issuer, configuration(redirectUri, next)).callback()
        })
        resume(Effect.succeed({ running: { issuer, redirectUri, key: () => key, seen, restart }, server }))
      })
    }),
    ({ server }) =>
      Effect.async<void>((resume) => {
        server.closeAllConnections()
        server.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map(({ running }) => running)))

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

/** The user at the browser: logs in as `user` at the development forms, consents, returns the callback URL. */
const userAgent = (authorizationUrl: URL, redirectUri: string, user: string) =>
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
      const form = new URLSearchParams({ prompt })
      if (prompt === "login") {
        form.set("login", user)
        form.set("password", "any")
      }
      current = yield* send(action, { method: "POST", body: form })
    }
    return yield* Effect.dieMessage("the provider never redirected to the redirect URI")
  })

type Tamper = "signature" | "aud" | "nonce"

/** A man in the middle of the token endpoint's answers, to tamper with the next ID Token. */
class Tampering extends Context.Tag("test/Tampering")<Tampering, { next: Tamper | undefined }>() {}

const reSign = (idToken: string, key: SigningKey, change: (claims: Record<string, unknown>) => void) =>
  Effect.promise(() => {
    const claims = Jose.decodeJwt(idToken) as Record<string, unknown>
    change(claims)
    return new Jose.SignJWT(claims).setProtectedHeader({ alg: "RS256", kid: key.jwk.kid ?? "" }).sign(key.privateKey)
  })

const tamper = (idToken: string, how: Tamper, key: SigningKey): Effect.Effect<string> => {
  switch (how) {
    case "signature": {
      // the payload changed, the signature kept
      const [header, , signature] = idToken.split(".")
      const claims = { ...Jose.decodeJwt(idToken), sub: "mallory" }
      return Effect.succeed(`${header}.${Jose.base64url.encode(JSON.stringify(claims))}.${signature}`)
    }
    case "aud":
      return reSign(idToken, key, (claims) => {
        claims.aud = "another-client"
      })
    case "nonce":
      return reSign(idToken, key, (claims) => {
        claims.nonce = "another-nonce"
      })
  }
}

/** The live HTTP client, with the tampering man in the middle on token responses. */
const layerHttpClient = (running: Running) =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.gen(function*() {
      const live = yield* HttpClient.HttpClient
      const state = yield* Tampering
      return HttpClient.make((request) =>
        Effect.flatMap(live.execute(request), (response) => {
          const how = state.next
          if (how === undefined || new URL(request.url).pathname !== "/token" || response.status !== 200) {
            return Effect.succeed(response)
          }
          state.next = undefined
          return Effect.gen(function*() {
            const body = (yield* Effect.orDie(response.json)) as Record<string, unknown>
            const idToken = typeof body.id_token === "string" ? body.id_token : ""
            const changed = { ...body, id_token: yield* tamper(idToken, how, running.key()) }
            return HttpClientResponse.fromWeb(
              request,
              new Response(JSON.stringify(changed), { status: 200, headers: { "content-type": "application/json" } })
            )
          })
        })
      )
    })
  ).pipe(Layer.provide(NodeOAuth.layerHttpClient))

/** Our client with ID Token validation, `AccessTokens` over a memory store, and userinfo. */
const application = (running: Running) =>
  Effect.gen(function*() {
    const options: OAuthConfig.Options = {
      clientId: client.id,
      clientSecret: Redacted.make(client.secret),
      authorizationEndpoint: `${running.issuer}/auth`,
      tokenEndpoint: `${running.issuer}/token`,
      redirectUri: running.redirectUri,
      scopes: ["openid", "profile", "email"],
      issuer: running.issuer
    }
    const tampering = { next: undefined as Tamper | undefined }
    const context = yield* Layer.build(
      UserInfo.layer.pipe(
        Layer.provideMerge(AccessTokens.layer()),
        Layer.provideMerge(TokenStore.layerMemory),
        // No cooldown: the restarted provider's keys are fetched at once.
        Layer.provideMerge(IdTokens.layerOAuthClient({ jwks: { cooldown: Duration.zero } })),
        Layer.provideMerge(OAuthConfig.layer(options)),
        Layer.provideMerge(layerHttpClient(running)),
        Layer.provide(Layer.succeed(Tampering, tampering))
      )
    )
    return {
      client: Context.get(context, OAuthClient.OAuthClient),
      accessTokens: Context.get(context, AccessTokens.AccessTokens),
      store: Context.get(context, TokenStore.TokenStore),
      userInfo: Context.get(context, UserInfo.UserInfo),
      jwks: Context.get(context, JwksCache.JwksCache),
      tampering
    }
  })

type Application = Effect.Effect.Success<ReturnType<typeof application>>

/** Sign-in as the routes do it: callback, exchange (with validation), then the tokens are stored. */
const signIn = (app: Application, running: Running, user: string) =>
  Effect.gen(function*() {
    const { pending, url } = yield* app.client.authorize()
    const callback = yield* userAgent(url, running.redirectUri, user)
    const tokens = yield* app.client.complete(callback, pending)
    yield* app.accessTokens.save(user, tokens)
    return tokens
  })

describe("oidc-provider as an OpenID provider (independent server on loopback)", () => {
  it.scopedLive("a sign-in with openid gives validated claims whose sub matches userinfo (OIDC Core 3.1.3.7, 5.3.4)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const app = yield* application(running)
      const tokens = yield* signIn(app, running, "ann")
      const claims = Option.getOrThrow(IdTokenClaims.fromTokenSet(tokens))
      assert.strictEqual(claims.sub, "ann")
      assert.strictEqual(claims.iss, running.issuer)
      assert.deepStrictEqual(claims.audiences, [client.id])
      assert.isString(claims.nonce)
      const info = yield* app.userInfo.userinfo("ann")
      assert.strictEqual(info.sub, claims.sub)
      assert.strictEqual(info.name, "User ann")
      assert.strictEqual(info.email, "ann@example.test")
      assert.strictEqual(info.email_verified, true)
    }))

  it.scopedLive("a refresh brings a new ID Token for the same sub, validated (OIDC Core 12.2)", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const app = yield* application(running)
      const tokens = yield* signIn(app, running, "ann")
      const refreshed = yield* app.client.refresh(tokens)
      assert.strictEqual(Option.getOrThrow(IdTokenClaims.fromTokenSet(refreshed)).sub, "ann")
    }))

  it.scopedLive("after the provider restarts with new keys, the next validation refetches the JWKS once and succeeds", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const jwksRequests = () => running.seen.filter((path) => path === "/jwks").length
      const app = yield* application(running)
      yield* signIn(app, running, "ann")
      yield* signIn(app, running, "ann")
      assert.strictEqual(jwksRequests(), 1, "the key set is fetched once and kept")
      yield* running.restart
      const tokens = yield* signIn(app, running, "bob")
      assert.strictEqual(Option.getOrThrow(IdTokenClaims.fromTokenSet(tokens)).sub, "bob")
      assert.strictEqual(jwksRequests(), 2, "one refetch for the new key")
      assert.strictEqual(yield* app.jwks.fetches, 2)
    }))

  for (const [how, check] of [["signature", "signature"], ["aud", "audience"], ["nonce", "nonce"]] as const) {
    it.scopedLive(`a tampered ID Token (${how}) is rejected before the tokens are stored`, () =>
      Effect.gen(function*() {
        const running = yield* startProvider
        const app = yield* application(running)
        app.tampering.next = how
        const error = yield* Effect.flip(signIn(app, running, "ann"))
        assert.strictEqual(error._tag, "InvalidIdToken")
        assert.strictEqual((error as OAuthError.InvalidIdToken).check, check)
        assert.isTrue(Option.isNone(yield* app.store.get("ann")), "nothing was stored")
        assert.strictEqual(running.seen.filter((path) => path === "/token").length, 1, "the provider did answer")
      }))
  }

  it.scopedLive("a refresh whose ID Token was tampered with is not adopted: the store keeps the tokens it had", () =>
    Effect.gen(function*() {
      const running = yield* startProvider
      const app = yield* application(running)
      const tokens = yield* signIn(app, running, "ann")
      yield* app.accessTokens.invalidate("ann", tokens.accessToken)
      app.tampering.next = "signature"
      const error = yield* Effect.flip(app.accessTokens.get("ann"))
      assert.strictEqual((error as OAuthError.InvalidIdToken).check, "signature")
      const stored = Option.getOrThrow(yield* app.store.get("ann"))
      assert.strictEqual(Redacted.value(stored.tokens.accessToken), Redacted.value(tokens.accessToken))
    }))
})
