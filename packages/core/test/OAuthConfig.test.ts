import { OAuthConfig } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { options } from "./utils/config.js"

const fromEnv = (env: Record<string, string>) =>
  Effect.gen(function*() {
    return yield* OAuthConfig.OAuthConfig
  }).pipe(
    Effect.provide(
      OAuthConfig.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(
        ConfigProvider.fromMap(new Map(Object.entries(env)))
      )))
    )
  )

const env = {
  OAUTH_CLIENT_ID: "client-1",
  OAUTH_CLIENT_SECRET: "env-secret-value",
  OAUTH_AUTHORIZATION_URL: "https://auth.example.com/authorize",
  OAUTH_TOKEN_URL: "https://auth.example.com/token",
  OAUTH_REDIRECT_URI: "https://app.example.com/callback"
}

describe("OAuthConfig", () => {
  it("endpoints must be https except on loopback hosts (S27)", () => {
    for (
      const ok of [
        "https://a.example.com/x",
        "http://127.0.0.1:8080/t",
        "http://127.9.8.7/t",
        "http://[::1]:3000/t",
        "http://localhost/t"
      ]
    ) {
      assert.isTrue(Either.isRight(OAuthConfig.validateEndpoint(ok)), ok)
    }
    for (
      const bad of [
        "http://a.example.com/x",
        "http://128.0.0.1/t",
        "http://localhost.evil.com/t",
        "http://10.0.0.1/t",
        "ftp://x/y",
        "not a url",
        "https://u:p@a.example.com/",
        "https://a.example.com/#frag"
      ]
    ) {
      assert.isTrue(Either.isLeft(OAuthConfig.validateEndpoint(bad)), bad)
    }
  })

  it.effect("a bad endpoint fails the layer with a message naming the field (S27)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(OAuthConfig.make({ ...options, tokenEndpoint: "http://auth.example.com/token" }))
      assert.strictEqual(error.field, "tokenEndpoint")
      assert.include(error.message, "tokenEndpoint")
      assert.include(error.message, "https")
      const scope = yield* Effect.flip(OAuthConfig.make({ ...options, scopes: ["ok", "has space"] }))
      assert.strictEqual(scope.field, "scopes")
      const redirect = yield* Effect.flip(OAuthConfig.make({ ...options, redirectUri: "https://a.example.com/cb#x" }))
      assert.strictEqual(redirect.field, "redirectUri")
      const lifetime = yield* Effect.flip(OAuthConfig.make({ ...options, refreshWindow: Duration.infinity }))
      assert.strictEqual(lifetime.field, "refreshWindow")
      const secret = yield* Effect.flip(OAuthConfig.make({ ...options, clientSecret: Redacted.make("") }))
      assert.strictEqual(secret.field, "clientSecret")
    }))

  it.effect("layerConfig reads the OAUTH_* variables, with the secret Redacted", () =>
    Effect.gen(function*() {
      const config = yield* fromEnv({
        ...env,
        OAUTH_SCOPES: "read, write admin",
        OAUTH_ISSUER: "https://auth.example.com",
        OAUTH_REVOCATION_URL: "https://auth.example.com/revoke",
        OAUTH_CLIENT_AUTH_METHOD: "client_secret_post",
        OAUTH_PKCE: "false",
        OAUTH_REFRESH_TOKEN_LIFETIME: "30 days",
        OAUTH_REFRESH_WINDOW: "2 minutes"
      })
      assert.strictEqual(config.clientId, "client-1")
      assert.strictEqual(Redacted.value(config.clientSecret), "env-secret-value")
      assert.deepStrictEqual(config.scopes, ["read", "write", "admin"])
      assert.strictEqual(config.clientAuthMethod, "client_secret_post")
      assert.isFalse(config.pkce)
      assert.strictEqual(Option.getOrThrow(config.revocationEndpoint).href, "https://auth.example.com/revoke")
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(config.refreshTokenLifetime)), 30 * 86_400_000)
      assert.strictEqual(Duration.toMillis(config.refreshWindow), 120_000)
      assert.notInclude(String(config.clientSecret), "env-secret-value")
    }))

  it.effect("layerConfig fails with a message naming the missing or bad variable (S27)", () =>
    Effect.gen(function*() {
      const { OAUTH_CLIENT_ID: _, ...withoutId } = env
      const missing = yield* Effect.flip(fromEnv(withoutId))
      assert.include(String(missing), "OAUTH_CLIENT_ID")
      const insecure = yield* Effect.flip(fromEnv({ ...env, OAUTH_TOKEN_URL: "http://auth.example.com/token" }))
      assert.include(String(insecure), "OAUTH_TOKEN_URL")
      assert.include(String(insecure), "https")
      const method = yield* Effect.flip(fromEnv({ ...env, OAUTH_CLIENT_AUTH_METHOD: "private_key_jwt" }))
      assert.include(String(method), "OAUTH_CLIENT_AUTH_METHOD")
      const { OAUTH_TOKEN_URL: __, ...withoutToken } = env
      const noToken = yield* Effect.flip(fromEnv(withoutToken))
      assert.include(String(noToken), "OAUTH_TOKEN_URL")
      const secret = yield* Effect.flip(fromEnv({ ...env, OAUTH_TOKEN_URL: "nope" }))
      assert.notInclude(String(secret), "env-secret-value")
    }))

  it.effect("the Credal preset needs only client id, secret and redirect URI", () =>
    Effect.gen(function*() {
      const config = yield* OAuthConfig.make(OAuthConfig.credal({
        clientId: "cid",
        clientSecret: Redacted.make("cs"),
        redirectUri: "https://app.example.com/cb"
      }))
      assert.strictEqual(config.authorizationEndpoint.href, "https://app.credal.ai/api/oauth/authorize")
      assert.strictEqual(config.tokenEndpoint.href, "https://app.credal.ai/api/oauth/token")
      assert.strictEqual(config.clientAuthMethod, "client_secret_post")
      assert.deepStrictEqual(config.scopes, ["api:agent:message:*"])
      assert.isTrue(config.pkce)
      assert.strictEqual(Duration.toMillis(config.authorizationLifetime), 600_000)
      assert.strictEqual(Duration.toMillis(config.defaultAccessTokenLifetime), 3_600_000)
      assert.strictEqual(Duration.toMillis(Option.getOrThrow(config.refreshTokenLifetime)), 30 * 86_400_000)
      const keep = yield* OAuthConfig.make(OAuthConfig.credal({
        clientId: "cid",
        clientSecret: Redacted.make("cs"),
        redirectUri: "https://app.example.com/cb",
        clientAuthMethod: undefined,
        scopes: undefined,
        refreshTokenLifetime: undefined
      }))
      assert.strictEqual(keep.clientAuthMethod, "client_secret_post", "undefined keeps the preset")
      assert.deepStrictEqual(keep.scopes, ["api:agent:message:*"])
      assert.isTrue(Option.isSome(keep.refreshTokenLifetime))
      const fromVars = yield* fromEnv({
        OAUTH_PROVIDER: "credal",
        OAUTH_CLIENT_ID: "cid",
        OAUTH_CLIENT_SECRET: "cs",
        OAUTH_REDIRECT_URI: "http://127.0.0.1:3000/callback"
      })
      assert.strictEqual(fromVars.tokenEndpoint.href, "https://app.credal.ai/api/oauth/token")
      assert.strictEqual(fromVars.clientAuthMethod, "client_secret_post")
    }))
})
