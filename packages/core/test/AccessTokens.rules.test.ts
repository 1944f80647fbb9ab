/**
 * AccessTokens against the hostile-server and cluster-fault rules (SPEC S33, S35, S43–S48).
 */
import { AccessTokens, OAuthClient, OAuthError, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { counters, layer, sibling, signedIn } from "./utils/accessTokens.js"

const storedRefreshToken = (key: string) =>
  Effect.gen(function*() {
    const store = yield* TokenStore.TokenStore
    const record = yield* store.get(key)
    return Option.flatMap(record, (r) => Option.map(r.tokens.refreshToken, Redacted.value))
  })

const refreshTokensSent = Effect.gen(function*() {
  const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
  return (yield* server.requests)
    .filter((r) => r.endpoint === "token" && r.form["grant_type"] === "refresh_token")
    .map((r) => r.form["refresh_token"] ?? "")
})

describe("AccessTokens: refresh window (S35)", () => {
  it.effect("a token that lives 30 s is refreshed after 15 s, never on every call (S35)", () =>
    Effect.gen(function*() {
      const tokens = yield* AccessTokens.AccessTokens
      yield* signedIn("ann")
      for (let i = 0; i < 14; i++) {
        yield* TestClock.adjust(Duration.seconds(1))
        yield* tokens.get("ann")
        yield* tokens.get("ann")
      }
      assert.strictEqual((yield* counters).refreshToken, 0, "refreshed before half its lifetime")
      yield* TestClock.adjust(Duration.seconds(1))
      for (let i = 0; i < 10; i++) yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 1, "not exactly one refresh at half its lifetime")
      yield* TestClock.adjust(Duration.seconds(14))
      for (let i = 0; i < 10; i++) yield* tokens.get("ann")
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer({
      server: { accessTokenLifetime: Duration.seconds(30) },
      accessTokens: { refreshMode: "blocking" }
    }))))
})

describe("AccessTokens: nothing loses a refresh answer's tokens (S33)", () => {
  it.scoped("a store write that dies keeps the new tokens in memory as unpersisted and gives a typed error (S33)", () =>
    Effect.gen(function*() {
      const store = yield* TokenStore.TokenStore
      let dying = true
      const broken: TokenStore.Service = {
        ...store,
        set: (key, tokens, options) => dying ? Effect.die("the store crashed") : store.set(key, tokens, options)
      }
      yield* signedIn("ann")
      const tokens = yield* sibling({ refreshMode: "blocking" }).pipe(
        Effect.provideService(TokenStore.TokenStore, broken)
      )
      yield* TestClock.adjust(Duration.hours(1))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.TokenStoreError)
      const kept = yield* tokens.get("ann")
      const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
      assert.isTrue(yield* server.isAccessTokenValid(Redacted.value(kept)), "the new access token was dropped")
      assert.strictEqual((yield* counters).refreshToken, 1)
      // Once the store works again, the kept tokens are written back before the next refresh uses them.
      dying = false
      yield* TestClock.adjust(Duration.hours(1))
      yield* tokens.get("ann")
      assert.strictEqual((yield* counters).reusedRefreshTokens, 0)
      assert.strictEqual(new Set(yield* refreshTokensSent).size, 2)
      assert.isTrue(yield* server.isRefreshTokenValid(Option.getOrThrow(yield* storedRefreshToken("ann"))))
    }).pipe(Effect.provide(layer())))

  it.scoped("a defect after the refresh request went out is a typed outcome-unknown error, never a defect (S33)", () =>
    Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const dying = OAuthClient.OAuthClient.of({
        ...client,
        refresh: (tokens, options) => Effect.zipRight(client.refresh(tokens, options), Effect.die("decoding crashed"))
      })
      yield* signedIn("ann")
      const tokens = yield* sibling({ refreshMode: "blocking" }).pipe(
        Effect.provideService(OAuthClient.OAuthClient, dying)
      )
      yield* TestClock.adjust(Duration.hours(1))
      const error = yield* Effect.flip(tokens.get("ann"))
      assert.instanceOf(error, OAuthError.RefreshOutcomeUnknown)
      assert.strictEqual((yield* counters).refreshToken, 1)
    }).pipe(Effect.provide(layer())))
})
