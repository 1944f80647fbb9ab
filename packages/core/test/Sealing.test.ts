import * as OAuthConfig from "@effect-oauth/core/OAuthConfig"
import * as Sealing from "@effect-oauth/core/Sealing"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { randomBytes } from "node:crypto"

const key = (id: string): Sealing.Key => ({ id, key: Redacted.make(randomBytes(32).toString("base64")) })

describe("Sealing", () => {
  it.effect("a sealed value opens with its context only, in the v1.<kid>.<iv>.<ct> format (S39)", () =>
    Effect.gen(function*() {
      const keyring = yield* Sealing.makeKeyring([key("k1")])
      const sealed = yield* Sealing.seal(keyring, "user-1", "secret text")
      assert.match(sealed, /^v1\.k1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
      assert.notInclude(sealed, "secret text")
      assert.strictEqual(yield* Sealing.open(keyring, "user-1", sealed), "secret text")
      const other = yield* Effect.flip(Sealing.open(keyring, "user-2", sealed))
      assert.strictEqual(other.reason, "Integrity")
      assert.strictEqual((yield* Effect.flip(Sealing.open(keyring, "user-1", "v1.k1.x"))).reason, "Malformed")
      const tooLarge = yield* Effect.flip(Sealing.open(keyring, "user-1", sealed, { maxLength: 10 }))
      assert.strictEqual(tooLarge.reason, "TooLarge")
    }))

  it.effect("rotation: the first key seals, every key opens; a key id that is not listed is UnknownKey", () =>
    Effect.gen(function*() {
      const a = key("a")
      const b = key("b")
      const old = yield* Sealing.makeKeyring([b])
      const sealed = yield* Sealing.seal(old, "c", "text")
      const rotated = yield* Sealing.makeKeyring([a, b])
      assert.strictEqual(yield* Sealing.open(rotated, "c", sealed), "text")
      assert.match(yield* Sealing.seal(rotated, "c", "text"), /^v1\.a\./)
      const dropped = yield* Sealing.makeKeyring([a])
      assert.strictEqual((yield* Effect.flip(Sealing.open(dropped, "c", sealed))).reason, "UnknownKey")
    }))

  it.effect("keys are checked by position with a typed configuration error that shows no key material (S39)", () =>
    Effect.gen(function*() {
      const short = Redacted.make(randomBytes(16).toString("base64"))
      const error = yield* Effect.flip(
        Sealing.makeKeyring([key("ok"), { id: "k", key: short }], { field: "cookieKeys" })
      )
      assert.instanceOf(error, OAuthConfig.InvalidConfig)
      assert.strictEqual(error.field, "cookieKeys[1].key")
      assert.notInclude(error.message, Redacted.value(short))
      const empty = yield* Effect.flip(Sealing.makeKeyring([]))
      assert.strictEqual(empty.field, "keys")
      assert.isTrue(Either.isLeft(Sealing.parseKeys("no-colon")))
      assert.isTrue(Either.isRight(Sealing.parseKeys(`k1:${randomBytes(32).toString("base64url")}`)))
    }))

  it.effect("passphrases are accepted only when a salt is configured, and then at 16 characters or more", () =>
    Effect.gen(function*() {
      const phrase = { id: "p", key: Redacted.make("correct horse battery staple") }
      assert.strictEqual((yield* Effect.flip(Sealing.makeKeyring([phrase]))).field, "keys[0].key")
      const keyring = yield* Sealing.makeKeyring([phrase], { passphraseSalt: "test/salt" })
      const sealed = yield* Sealing.seal(keyring, "c", "text")
      const again = yield* Sealing.makeKeyring([phrase], { passphraseSalt: "test/salt" })
      assert.strictEqual(yield* Sealing.open(again, "c", sealed), "text")
      const shortPhrase = { id: "p", key: Redacted.make("too short") }
      assert.isTrue(Either.isLeft(yield* Effect.either(Sealing.makeKeyring([shortPhrase], { passphraseSalt: "s" }))))
    }))

  it("constantTimeEqual compares whole strings (S6)", () => {
    assert.isTrue(Sealing.constantTimeEqual("abc", "abc"))
    assert.isFalse(Sealing.constantTimeEqual("abc", "abd"))
    assert.isFalse(Sealing.constantTimeEqual("abc", "abcd"))
    assert.isFalse(Sealing.constantTimeEqual("", "a"))
  })
})
