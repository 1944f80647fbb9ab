import { OAuthError } from "@effect-oauth/core"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as FastCheck from "effect/FastCheck"
import * as Redacted from "effect/Redacted"
import { inspect } from "node:util"
import { authorizeAndCallback, recordingOAuthClient } from "./utils/config.js"
import type * as RecordingClient from "./utils/recordingClient.js"

const secretArbitrary = FastCheck.stringMatching(/^[A-Za-z0-9]{12,40}$/)

const replies: Array<(s: string) => RecordingClient.Reply> = [
  (s) => ({ status: 200, body: JSON.stringify({ access_token: s, token_type: s }) }),
  (s) => ({ status: 200, body: JSON.stringify({ access_token: s, token_type: "Bearer", expires_in: s }) }),
  (s) => ({ status: 200, body: JSON.stringify({ access_token: 1, refresh_token: Number(s) || s }) }),
  (s) => ({ status: 200, body: `<html>${s}</html>`, headers: { "content-type": "text/html" } }),
  (s) => ({ status: 500, body: JSON.stringify({ access_token: s }) }),
  (s) => ({ status: 400, body: `{"error":"invalid_grant","secret":"${s}"}` }),
  () => "transport-error"
]

const renderings = (value: unknown): Array<string> => [
  String(value),
  JSON.stringify(value),
  inspect(value, { depth: 10 }),
  value instanceof Error ? `${value.message}\n${value.stack ?? ""}` : ""
]

describe("OAuthError", () => {
  it.effect.prop(
    "no secret ever appears in String, JSON.stringify or util.inspect of an error (S26)",
    {
      secret: secretArbitrary,
      reply: FastCheck.constantFrom(...replies),
      denied: FastCheck.boolean()
    },
    ({ denied, reply, secret }) =>
      Effect.gen(function*() {
        const { client } = yield* recordingOAuthClient(() => reply(secret), {
          clientSecret: Redacted.make(secret)
        })
        const { callback, pending } = yield* authorizeAndCallback(client, { code: secret })
        if (denied) callback.searchParams.set("state", secret)
        const error = yield* Effect.flip(client.complete(callback, pending))
        const refreshError = yield* Effect.flip(client.refresh(Redacted.make(secret)))
        for (const value of [error, refreshError, pending]) {
          for (const text of renderings(value)) {
            assert.notInclude(text, secret)
            assert.notInclude(text, Redacted.value(pending.state))
          }
        }
      }),
    { fastCheck: { numRuns: 150 } }
  )

  it("every error has a message that says what happened", () => {
    const errors = [
      new OAuthError.AuthorizationDenied({ error: "access_denied" }),
      new OAuthError.StateMismatch({ reason: "reused" }),
      new OAuthError.IssuerMismatch({ expected: "https://a", received: "https://b" }),
      new OAuthError.InvalidCallback({ reason: "no code" }),
      new OAuthError.ErrorResponse({ error: "invalid_client", status: 401 }),
      new OAuthError.InvalidTokenResponse({ issues: ["access_token is missing"] }),
      new OAuthError.HttpError({ endpoint: "token", reason: "Status", status: 503 }),
      new OAuthError.ReauthorizationRequired({ reason: "refresh-token-expired", key: "user-1" }),
      new OAuthError.RefreshOutcomeUnknown({ reason: "Transport" })
    ]
    for (const error of errors) {
      assert.isAbove(error.message.length, 20)
      assert.include(String(error), error._tag)
    }
  })
})
