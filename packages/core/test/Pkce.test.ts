import { Pkce, SecureRandom } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"

describe("Pkce", () => {
  it.effect("the RFC 7636 Appendix B vector gives its challenge (S3)", () =>
    Effect.gen(function*() {
      const challenge = yield* Pkce.challenge(Redacted.make("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"))
      assert.strictEqual(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    }))

  it.effect("a verifier comes from 32 random bytes, matches the RFC grammar and is new every time (S3)", () =>
    Effect.gen(function*() {
      const seen = new Set<string>()
      for (let i = 0; i < 200; i++) {
        const verifier = Redacted.value(yield* Pkce.makeVerifier)
        assert.match(verifier, Pkce.verifierPattern)
        assert.strictEqual(verifier.length, 43)
        seen.add(verifier)
      }
      assert.strictEqual(seen.size, 200)
    }))

  it.effect.prop(
    "verifiers from any random source always match the RFC grammar (S3)",
    { seed: FastCheck.integer() },
    ({ seed }) =>
      Effect.gen(function*() {
        const verifier = yield* Pkce.makeVerifier.pipe(Effect.provide(SecureRandom.layerDeterministic(seed)))
        assert.match(Redacted.value(verifier), Pkce.verifierPattern)
      })
  )
})
