/**
 * The OpenID provider mode of the fake authorization server: wraps a fake server's `HttpClient` and
 * adds ID Tokens to its token responses, a JWKS endpoint, a userinfo endpoint and the OpenID fields of
 * its discovery document. Keys and signatures come from `jose`.
 *
 * @internal
 */
import * as HttpClient from "@effect/platform/HttpClient"
import type * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Jose from "jose"
import { createHash, randomBytes } from "node:crypto"
import type * as FakeAuthorizationServer from "../FakeAuthorizationServer.js"
import type * as FakeAuthorizationServerFault from "../FakeAuthorizationServerFault.js"
import * as internal from "./fakeAuthorizationServer.js"

/** @internal */
export type SigningAlgorithm = "RS256" | "PS256" | "ES256" | "EdDSA"

/** @internal */
export type IdTokenFault =
  | "bad-signature"
  | "wrong-aud"
  | "wrong-iss"
  | "wrong-nonce"
  | "no-nonce"
  | "expired"
  | "future-iat"
  | "alg-none"
  | "hs256"
  | "unknown-kid"
  | "missing"
  | "wrong-sub"
  | "wrong-at-hash"
  | "several-aud"
  | "old-auth-time"

/** @internal */
export interface Options {
  readonly algorithm?: SigningAlgorithm | undefined
  readonly idTokenLifetime?: Duration.DurationInput | undefined
  readonly jwksPath?: string | undefined
  readonly userinfoPath?: string | undefined
  /** Claims added to every ID Token and userinfo answer of a user. */
  readonly claims?: ((user: string) => Readonly<Record<string, unknown>>) | undefined
  /** Refresh responses carry a new ID Token; default `true`. */
  readonly idTokenOnRefresh?: boolean | undefined
  /** ID Tokens carry `at_hash`; default `true`. */
  readonly atHash?: boolean | undefined
}

interface SigningKey {
  readonly kid: string
  readonly privateKey: Jose.CryptoKey
  readonly publicJwk: Jose.JWK
}

interface Session {
  readonly user: string
  readonly clientId: string
  readonly scopes: ReadonlyArray<string>
  readonly nonce: string | undefined
  readonly authTime: number
}

interface State {
  readonly keys: ReadonlyArray<SigningKey>
  /** The keys published at the JWKS endpoint. */
  readonly published: ReadonlyArray<SigningKey>
  readonly codes: ReadonlyMap<string, Session>
  readonly refreshTokens: ReadonlyMap<string, Session>
  readonly faults: ReadonlyArray<IdTokenFault>
  readonly jwksRequests: number
  readonly userinfoRequests: number
  readonly userinfoSub: string | undefined
  readonly jwksStatus: number | undefined
}

/** @internal */
export interface Service {
  readonly server: FakeAuthorizationServer.FakeAuthorizationServer.Service
  /**
   * The server answering as this provider (`handle`, `answer`, `httpClient`, `approve`), to serve over
   * real HTTP with `FakeAuthorizationServerHttp`.
   */
  readonly asServer: FakeAuthorizationServer.FakeAuthorizationServer.Service
  readonly httpClient: HttpClient.HttpClient
  readonly algorithm: SigningAlgorithm
  readonly jwksUri: string
  readonly userinfoEndpoint: string
  readonly approve: (
    authorizationUrl: string | URL,
    options?: { readonly user?: string | undefined; readonly authTime?: number | undefined }
  ) => Effect.Effect<URL, FakeAuthorizationServer.FakeAuthorizationError>
  readonly rotateKeys: (options?: { readonly keepOld?: boolean | undefined }) => Effect.Effect<void>
  readonly injectIdTokenFault: (fault: IdTokenFault, times?: number) => Effect.Effect<void>
  readonly setUserinfoSubject: (sub: string | undefined) => Effect.Effect<void>
  readonly setJwksStatus: (status: number | undefined) => Effect.Effect<void>
  readonly sign: (claims: Readonly<Record<string, unknown>>) => Effect.Effect<string>
  readonly jwks: Effect.Effect<Jose.JSONWebKeySet>
  readonly jwksRequests: Effect.Effect<number>
  readonly userinfoRequests: Effect.Effect<number>
}

const generateKey = (algorithm: SigningAlgorithm): Effect.Effect<SigningKey> =>
  Effect.promise(async () => {
    const { privateKey, publicKey } = await Jose.generateKeyPair(algorithm, { extractable: true })
    const kid = randomBytes(9).toString("base64url")
    const jwk = await Jose.exportJWK(publicKey)
    return { kid, privateKey, publicJwk: { ...jwk, kid, alg: algorithm, use: "sig" } }
  })

const signWith = (
  key: SigningKey,
  algorithm: SigningAlgorithm,
  claims: Readonly<Record<string, unknown>>
): Effect.Effect<string> =>
  Effect.promise(() =>
    new Jose.CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
      .setProtectedHeader({ alg: algorithm, kid: key.kid, typ: "JWT" })
      .sign(key.privateKey)
  )

/** @internal */
export const atHash = (accessToken: string, algorithm: SigningAlgorithm = "RS256"): string => {
  const digest = createHash(algorithm === "EdDSA" ? "sha512" : "sha256").update(accessToken).digest()
  return digest.subarray(0, digest.length / 2).toString("base64url")
}

const json = (request: HttpClientRequest.HttpClientRequest, status: number, body: unknown) =>
  HttpClientResponse.fromWeb(
    request,
    new Response(JSON.stringify(body), {
      status,
      headers: { "content-type": "application/json", "cache-control": "no-store" }
    })
  )

/** @internal */
export const make = (
  server: FakeAuthorizationServer.FakeAuthorizationServer.Service,
  options: Options = {}
): Effect.Effect<Service> =>
  Effect.gen(function*() {
    const algorithm = options.algorithm ?? "RS256"
    const lifetime = Duration.toMillis(options.idTokenLifetime ?? Duration.hours(1)) / 1000
    const issuer = server.options.issuer
    const base = issuer.replace(/\/+$/, "")
    const jwksPath = options.jwksPath ?? "/oidc/jwks"
    const userinfoPath = options.userinfoPath ?? "/oidc/userinfo"
    const jwksUri = base + jwksPath
    const userinfoEndpoint = base + userinfoPath
    const tokenPath = new URL(server.endpoints.token).pathname
    const discoveryPath = new URL(server.endpoints.openIdConfiguration).pathname
    const first = yield* generateKey(algorithm)
    const state = yield* Ref.make<State>({
      keys: [first],
      published: [first],
      codes: new Map(),
      refreshTokens: new Map(),
      faults: [],
      jwksRequests: 0,
      userinfoRequests: 0,
      userinfoSub: undefined,
      jwksStatus: undefined
    })
    const extraClaims = options.claims ?? (() => ({}))

    const takeFault = Ref.modify(state, (s): readonly [IdTokenFault | undefined, State] => {
      const [fault, ...rest] = s.faults
      return [fault, { ...s, faults: rest }]
    })

    const currentKey = Effect.map(Ref.get(state), (s) => s.keys[s.keys.length - 1] ?? first)

    const idTokenFor = (session: Session, accessToken: string, during: "exchange" | "refresh") =>
      Effect.gen(function*() {
        const fault = yield* takeFault
        if (fault === "missing") return undefined
        const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
        const claims: Record<string, unknown> = {
          iss: fault === "wrong-iss" ? `${base}/other` : issuer,
          sub: fault === "wrong-sub" ? `${session.user}-other` : session.user,
          aud: fault === "wrong-aud" ? "another-client" : fault === "several-aud"
            ? [session.clientId, "another-client"]
            : session.clientId,
          exp: fault === "expired" ? now - 3600 : now + lifetime,
          iat: fault === "future-iat" ? now + 3600 : fault === "expired" ? now - 7200 : now,
          auth_time: fault === "old-auth-time" ? now - 86_400 : session.authTime,
          ...extraClaims(session.user)
        }
        if (during === "exchange" && session.nonce !== undefined && fault !== "no-nonce") {
          claims.nonce = fault === "wrong-nonce" ? `${session.nonce}x` : session.nonce
        }
        if (options.atHash !== false) {
          claims.at_hash = atHash(fault === "wrong-at-hash" ? `${accessToken}x` : accessToken, algorithm)
        }
        if (fault === "alg-none") {
          return new Jose.UnsecuredJWT(claims).encode()
        }
        if (fault === "hs256") {
          const secret = server.options.clients.find((client) => client.clientId === session.clientId)?.clientSecret ??
            ""
          return yield* Effect.promise(() =>
            new Jose.SignJWT(claims).setProtectedHeader({ alg: "HS256", typ: "JWT" }).sign(
              new TextEncoder().encode(secret)
            )
          )
        }
        if (fault === "unknown-kid") {
          return yield* Effect.flatMap(generateKey(algorithm), (key) => signWith(key, algorithm, claims))
        }
        const signed = yield* signWith(yield* currentKey, algorithm, claims)
        if (fault === "bad-signature") {
          const [header, payload, signature = ""] = signed.split(".")
          const flipped = (signature[0] === "A" ? "B" : "A") + signature.slice(1)
          return `${header}.${payload}.${flipped}`
        }
        return signed
      })

    /** Adds an ID Token to a successful token response and remembers whose refresh token it carries. */
    const augmentToken = (
      request: HttpClientRequest.HttpClientRequest,
      response: HttpClientResponse.HttpClientResponse
    ) =>
      Effect.gen(function*() {
        if (response.status !== 200) return response
        const form =
          internal.parseParams(new URLSearchParams((yield* Effect.orDie(internal.readBodyText(request.body))) ?? ""))
            .record
        const text = yield* Effect.orDie(response.text)
        const body = Option.getOrUndefined(internal.parseJson(text))
        if (typeof body !== "object" || body === null || Array.isArray(body)) return json(request, 200, body)
        const out = { ...(body as Record<string, unknown>) }
        const s = yield* Ref.get(state)
        const grantType = form.grant_type
        const session = grantType === "authorization_code"
          ? s.codes.get(form.code ?? "")
          : grantType === "refresh_token"
          ? s.refreshTokens.get(form.refresh_token ?? "")
          : undefined
        if (session === undefined || !session.scopes.includes("openid")) return json(request, 200, out)
        const accessToken = typeof out.access_token === "string" ? out.access_token : ""
        if (grantType === "authorization_code" || options.idTokenOnRefresh !== false) {
          const idToken = yield* idTokenFor(
            session,
            accessToken,
            grantType === "authorization_code" ? "exchange" : "refresh"
          )
          if (idToken !== undefined) out.id_token = idToken
        }
        const refreshToken = typeof out.refresh_token === "string" ? out.refresh_token : undefined
        if (refreshToken !== undefined) {
          yield* Ref.update(
            state,
            (s) => ({ ...s, refreshTokens: new Map([...s.refreshTokens, [refreshToken, session]]) })
          )
        }
        return json(request, 200, out)
      })

    const userinfo = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.gen(function*() {
        yield* Ref.update(state, (s) => ({ ...s, userinfoRequests: s.userinfoRequests + 1 }))
        const authorization = request.headers["authorization"]
        const whoami = HttpClientRequest.get(`${server.endpoints.apiBase}/whoami`).pipe(
          authorization === undefined ? (r) => r : HttpClientRequest.setHeader("authorization", authorization)
        )
        const response = yield* server.handle(whoami)
        if (response.status !== 200) return response
        const body = Option.getOrUndefined(internal.parseJson(yield* response.text))
        const user = typeof body === "object" && body !== null && "user" in body && typeof body.user === "string"
          ? body.user
          : ""
        const override = (yield* Ref.get(state)).userinfoSub
        return json(request, 200, { ...extraClaims(user), sub: override ?? user })
      })

    /** The OpenID provider's own endpoints, and the server's answers with ID Tokens added. */
    const adapt = (
      request: HttpClientRequest.HttpClientRequest,
      serverAnswer: Effect.Effect<FakeAuthorizationServerFault.Answer, HttpClientError.HttpClientError>
    ): Effect.Effect<FakeAuthorizationServerFault.Answer, HttpClientError.HttpClientError> =>
      Effect.gen(function*() {
        const respond = (response: HttpClientResponse.HttpClientResponse): FakeAuthorizationServerFault.Answer => ({
          _tag: "Response",
          response
        })
        const url = new URL(request.url)
        if (url.pathname === jwksPath && request.method === "GET") {
          const s = yield* Ref.updateAndGet(state, (s) => ({ ...s, jwksRequests: s.jwksRequests + 1 }))
          if (s.jwksStatus !== undefined) return respond(json(request, s.jwksStatus, { error: "unavailable" }))
          return respond(json(request, 200, { keys: s.published.map((key) => key.publicJwk) }))
        }
        if (url.pathname === userinfoPath) return respond(yield* userinfo(request))
        const answer = yield* serverAnswer
        if (answer._tag !== "Response") return answer
        const response = answer.response
        if (url.pathname === tokenPath && request.method === "POST") {
          return respond(yield* augmentToken(request, response))
        }
        if (url.pathname === discoveryPath && response.status === 200) {
          const body = Option.getOrUndefined(internal.parseJson(yield* Effect.orDie(response.text)))
          return respond(json(request, 200, {
            ...(typeof body === "object" && body !== null ? body : {}),
            jwks_uri: jwksUri,
            userinfo_endpoint: userinfoEndpoint,
            id_token_signing_alg_values_supported: [algorithm],
            subject_types_supported: ["public"],
            response_types_supported: ["code"]
          }))
        }
        return answer
      })

    const handle = (request: HttpClientRequest.HttpClientRequest) =>
      Effect.flatMap(
        adapt(request, Effect.map(server.handle(request), (response) => ({ _tag: "Response" as const, response }))),
        (answer) => answer._tag === "Response" ? Effect.succeed(answer.response) : Effect.never
      )

    const answer = (request: HttpClientRequest.HttpClientRequest) => adapt(request, server.answer(request))

    const approve = (
      authorizationUrl: string | URL,
      approveOptions?: { readonly user?: string | undefined; readonly authTime?: number | undefined }
    ) =>
      Effect.gen(function*() {
        const callback = yield* server.approve(authorizationUrl, { user: approveOptions?.user })
        const code = callback.searchParams.get("code")
        if (code !== null) {
          const request = new URL(authorizationUrl)
          const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
          const session: Session = {
            user: approveOptions?.user ?? server.options.defaultUser,
            clientId: request.searchParams.get("client_id") ?? "",
            scopes: (request.searchParams.get("scope") ?? "").split(" ").filter((scope) => scope.length > 0),
            nonce: request.searchParams.get("nonce") ?? undefined,
            authTime: approveOptions?.authTime ?? now
          }
          yield* Ref.update(state, (s) => ({ ...s, codes: new Map([...s.codes, [code, session]]) }))
        }
        return callback
      })

    const rotateKeys = (rotateOptions?: { readonly keepOld?: boolean | undefined }) =>
      Effect.flatMap(generateKey(algorithm), (key) =>
        Ref.update(state, (s) => ({
          ...s,
          keys: [...s.keys, key],
          published: rotateOptions?.keepOld === true ? [...s.published, key] : [key]
        })))

    const httpClient = HttpClient.make((request) => handle(request))

    return {
      server,
      asServer: { ...server, handle, answer, httpClient, approve: (url, options) => approve(url, options) },
      httpClient,
      algorithm,
      jwksUri,
      userinfoEndpoint,
      approve,
      rotateKeys,
      injectIdTokenFault: (fault, times = 1) =>
        Ref.update(state, (s) => ({ ...s, faults: [...s.faults, ...Array.from({ length: times }, () => fault)] })),
      setUserinfoSubject: (sub) => Ref.update(state, (s) => ({ ...s, userinfoSub: sub })),
      setJwksStatus: (status) => Ref.update(state, (s) => ({ ...s, jwksStatus: status })),
      sign: (claims) => Effect.flatMap(currentKey, (key) => signWith(key, algorithm, claims)),
      jwks: Effect.map(Ref.get(state), (s) => ({ keys: s.published.map((key) => key.publicJwk) })),
      jwksRequests: Effect.map(Ref.get(state), (s) => s.jwksRequests),
      userinfoRequests: Effect.map(Ref.get(state), (s) => s.userinfoRequests)
    }
  })
