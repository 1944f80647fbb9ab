import { PendingAuthorizations } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import { recordingOAuthClient } from "./utils/config.js"

describe("PendingAuthorizations", () => {
  it.effect("a pending authorization is taken once by its state (S2, S9)", () =>
    Effect.gen(function*() {
      const store = yield* PendingAuthorizations.makeMemory
      const { client } = yield* recordingOAuthClient()
      const { pending } = yield* client.authorize()
      yield* store.put(pending)
      const state = Redacted.value(pending.state)
      const taken = yield* store.take(state)
      assert.strictEqual(Redacted.value(Option.getOrThrow(taken).state), state)
      assert.isTrue(Option.isNone(yield* store.take(state)))
      assert.isTrue(Option.isNone(yield* store.take("unknown-state")))
    }))

  it.effect("concurrent takes of one state give it to exactly one taker (S2)", () =>
    Effect.gen(function*() {
      const store = yield* PendingAuthorizations.makeMemory
      const { client } = yield* recordingOAuthClient()
      const { pending } = yield* client.authorize()
      yield* store.put(pending)
      const results = yield* Effect.all(
        Array.from({ length: 10 }, () => store.take(Redacted.value(pending.state))),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(results.filter(Option.isSome).length, 1)
    }))

  it.effect("a pending authorization is not given out after its lifetime (S9)", () =>
    Effect.gen(function*() {
      const store = yield* PendingAuthorizations.makeMemory
      const { client } = yield* recordingOAuthClient()
      const { pending } = yield* client.authorize()
      yield* store.put(pending)
      yield* TestClock.adjust(Duration.minutes(10))
      assert.isTrue(Option.isNone(yield* store.take(Redacted.value(pending.state))))
    }))

  it.effect("the lookup key is a digest of the state, not the state", () =>
    Effect.gen(function*() {
      const key = yield* PendingAuthorizations.stateKey("some-state-value")
      assert.notInclude(key, "some-state-value")
      assert.match(key, /^[A-Za-z0-9_-]{43}$/)
    }))
})
