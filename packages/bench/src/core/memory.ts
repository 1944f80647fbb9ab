/**
 * 4. Heap per cached key with 100 000 keys, and whether refreshes leave anything behind.
 *
 * The memory store keeps its records in the same heap, so three passes of 100 000 saves of distinct keys,
 * each from an empty heap state: the memory store alone (`store.set`: records and keys); `AccessTokens.save`
 * over a memory store (cache + store); and the cache is the difference (its entries, token sets, Redacted
 * values and their registry, Map slots; the key strings are shared with the store and counted there). As a
 * cross check, `AccessTokens.save` over a store that keeps nothing (the cache, keys included).
 */
import { AccessTokens, OAuthClient, TokenStore } from "@effect-oauth/core"
import { OAuthTest } from "@effect-oauth/testing"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { heapUsed, loop, makeTokens, num, randomToken, type Report } from "./harness.js"

const keys = 100_000
/** Keys refreshed (twice each) to look for state left behind; fewer, as a refresh costs ~100× a save. */
const refreshedKeys = 20_000
const warmupKeys = 2_000
const hour = Duration.toMillis(Duration.hours(1))
/** Due: inside the 60 s refresh window. */
const due = 30_000
/** User-id-like keys of 11 characters. */
const keyOf = (i: number) => `user-${i.toString().padStart(6, "0")}`

/** A store that keeps no record: what is left on the heap after saves through it is the cache's. */
const discardingStore: Effect.Effect<TokenStore.Service> = Effect.map(TokenStore.makeLockTable, (locks) => {
  let versions = 0
  return {
    get: () => Effect.succeed(Option.none()),
    set: () => Effect.sync(() => ++versions),
    remove: () => Effect.succeed(false),
    lock: (key, options) => locks.acquire(key, options.lease)
  }
})

/**
 * A token endpoint that answers every request at once with new, rotated tokens that are already due
 * (`expires_in` 0), so that every `get` refreshes; counts the requests.
 */
const makeTokenEndpoint = () => {
  const stats = { requests: 0 }
  const client = HttpClient.make((request) =>
    Effect.sync(() => {
      stats.requests++
      const tokens = {
        access_token: randomToken("at_"),
        token_type: "Bearer",
        // Already expired, so that the next get refreshes again (a refresh window is at most half
        // the lifetime, S35).
        expires_in: 0,
        refresh_token: randomToken("rt_")
      }
      return HttpClientResponse.fromWeb(
        request,
        new Response(JSON.stringify(tokens), { status: 200, headers: { "content-type": "application/json" } })
      )
    })
  )
  return { client, stats }
}

const saveAll = (
  n: number,
  save: (key: string, tokens: ReturnType<typeof makeTokens>) => Effect.Effect<unknown, unknown>,
  expiresIn: number
) =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    let i = 0
    // Issued an hour before they expire, so that tokens with `due` left are inside the refresh window.
    return loop(n, () => save(keyOf(i++), makeTokens(now, expiresIn, undefined, undefined, hour)))
  })

const accessTokensOver = (store: TokenStore.Service) =>
  AccessTokens.make().pipe(Effect.provideService(TokenStore.TokenStore, store))

/** A no-op that uses the service, so that it stays reachable until after a heap reading. */
const keepAlive = (tokens: AccessTokens.Service) => tokens.invalidate(keyOf(0), Redacted.make("not a token"))

export const run: Effect.Effect<Report> = Effect.gen(function*() {
  // The memory store alone: records and keys.
  const storeBytes = yield* Effect.gen(function*() {
    const store = yield* TokenStore.makeMemory
    const before = yield* heapUsed
    yield* saveAll(keys, store.set, hour)
    const after = yield* heapUsed
    yield* store.get(keyOf(0)) // the store stays reachable until after the reading
    return (after - before) / keys
  })

  // AccessTokens.save over a memory store: cache entries, token sets, store records, keys.
  const total = yield* Effect.scoped(Effect.gen(function*() {
    const tokens = yield* accessTokensOver(yield* TokenStore.makeMemory)
    const before = yield* heapUsed
    yield* saveAll(keys, tokens.save, hour)
    const after = yield* heapUsed
    yield* keepAlive(tokens)
    return (after - before) / keys
  }))

  // The cache over a store that keeps nothing: entries, token sets, keys.
  const cacheOnly = yield* Effect.scoped(Effect.gen(function*() {
    const tokens = yield* accessTokensOver(yield* discardingStore)
    const before = yield* heapUsed
    yield* saveAll(keys, tokens.save, hour)
    const after = yield* heapUsed
    yield* keepAlive(tokens)
    return (after - before) / keys
  }))

  // Refreshes of every key: flights, locks, their fibers and scopes must not outlive a refresh. The
  // refresh path is run first on other keys, so that its compiled code is on the heap before the readings.
  const endpoint = makeTokenEndpoint()
  const refreshed = yield* Effect.scoped(Effect.gen(function*() {
    const tokens = yield* accessTokensOver(yield* TokenStore.makeMemory)
    const refreshAll = (prefix: string, n: number) =>
      Effect.forEach(Array.from({ length: n }, (_, i) => prefix + keyOf(i)), tokens.get, {
        concurrency: 64,
        discard: true
      })
    yield* saveAll(warmupKeys, (key, tokenSet) => tokens.save(`warmup-${key}`, tokenSet), due)
    yield* refreshAll("warmup-", warmupKeys)
    yield* refreshAll("warmup-", warmupKeys)
    const before = yield* heapUsed
    yield* saveAll(refreshedKeys, tokens.save, due)
    const saved = yield* heapUsed
    const requests = endpoint.stats.requests
    yield* refreshAll("", refreshedKeys)
    const once = yield* heapUsed
    yield* refreshAll("", refreshedKeys)
    const twice = yield* heapUsed
    yield* keepAlive(tokens)
    const perKey = (from: number, to: number) => (to - from) / refreshedKeys
    return {
      saved: perKey(before, saved),
      first: perKey(saved, once),
      second: perKey(once, twice),
      requests: endpoint.stats.requests - requests
    }
  })).pipe(
    Effect.provide(
      OAuthClient.layerWithConfig(OAuthTest.clientOptions()).pipe(
        Layer.provide(Layer.succeed(HttpClient.HttpClient, endpoint.client))
      )
    )
  )

  const cache = total - storeBytes
  const bytes = (value: number) => `${num(value)} B/key`
  return {
    rows: [
      { name: `memory store alone, ${num(keys)} keys`, result: bytes(storeBytes) },
      { name: "AccessTokens.save: cache + memory store", result: bytes(total) },
      { name: "AccessTokens cache (total − store)", result: bytes(cache), target: "≤ 1024 B", ok: cache <= 1024 },
      {
        name: "cache over a store keeping nothing (+ keys)",
        result: bytes(cacheOnly),
        target: "≤ 1024 B",
        ok: cacheOnly <= 1024
      },
      { name: `${num(refreshedKeys)} due keys saved (cache + store)`, result: bytes(refreshed.saved) },
      // One-time growth of hash tables that held old and new tokens at once (chiefly the registry of
      // Redacted values), not state per key: the 2nd refresh of every key does not add to it.
      { name: "heap change, 1st refresh of every key", result: bytes(refreshed.first) },
      {
        name: "heap change, 2nd refresh of every key",
        result: `${bytes(refreshed.second)} (${num(refreshed.requests)} req)`,
        target: "≈ 0 (≤ 64 B)",
        ok: Math.abs(refreshed.second) <= 64 && refreshed.requests === 2 * refreshedKeys
      }
    ]
  }
}).pipe(Effect.provide(OAuthTest.layer()), Effect.orDie)
