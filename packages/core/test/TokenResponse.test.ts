import { OAuthError, TokenResponse } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"

const validShape = FastCheck.record({
  access_token: FastCheck.oneof(FastCheck.string(), FastCheck.constant(undefined), FastCheck.integer()),
  token_type: FastCheck.oneof(FastCheck.constantFrom("Bearer", "bearer", "MAC", ""), FastCheck.anything()),
  expires_in: FastCheck.oneof(FastCheck.integer(), FastCheck.string(), FastCheck.double(), FastCheck.constant(null)),
  refresh_token: FastCheck.oneof(FastCheck.string(), FastCheck.anything()),
  scope: FastCheck.oneof(FastCheck.string(), FastCheck.anything())
}, { requiredKeys: [] })

describe("TokenResponse", () => {
  it.effect.prop(
    "any JSON body decodes to a token response or a typed error, never a throw (S13, S28)",
    { body: FastCheck.oneof(FastCheck.jsonValue(), validShape, FastCheck.anything()) },
    ({ body }) =>
      Effect.gen(function*() {
        const exit = yield* Effect.exit(TokenResponse.decode(body))
        if (Exit.isFailure(exit)) {
          const error = yield* Effect.flip(TokenResponse.decode(body))
          assert.instanceOf(error, OAuthError.InvalidTokenResponse)
        } else {
          assert.isAbove(Redacted.value(exit.value.access_token).length, 0)
          assert.strictEqual(exit.value.token_type, "Bearer")
        }
      }),
    { fastCheck: { numRuns: 300 } }
  )

  it.effect("a __proto__ key in a response pollutes nothing (S28)", () =>
    Effect.gen(function*() {
      const body = JSON.parse(
        "{\"access_token\":\"a\",\"token_type\":\"Bearer\",\"__proto__\":{\"polluted\":true},\"constructor\":{\"prototype\":{\"polluted\":true}}}"
      )
      const decoded = yield* TokenResponse.decode(body)
      assert.strictEqual(Redacted.value(decoded.access_token), "a")
      assert.isUndefined(({} as Record<string, unknown>).polluted)
      assert.isUndefined((decoded as unknown as Record<string, unknown>).polluted)
    }))

  it("scope strings split on spaces (S15)", () => {
    assert.deepStrictEqual(Option.getOrThrow(TokenResponse.parseScope(" a  b c ")), ["a", "b", "c"])
    assert.isTrue(Option.isNone(TokenResponse.parseScope(undefined)))
  })
})
