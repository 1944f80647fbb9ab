import { OAuthClient, OAuthConfig } from "@effect-oauth/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as RecordingClient from "./recordingClient.js"

export const options: OAuthConfig.Options = {
  clientId: "client-1",
  clientSecret: Redacted.make("s3cr3t-value"),
  authorizationEndpoint: "https://auth.example.com/authorize?tenant=acme",
  tokenEndpoint: "https://auth.example.com/token",
  revocationEndpoint: "https://auth.example.com/revoke",
  redirectUri: "https://app.example.com/callback",
  scopes: ["read", "write"],
  issuer: "https://auth.example.com"
}

/** An OAuthClient over a recording HttpClient. */
export const recordingOAuthClient = (
  reply: (request: RecordingClient.Recorded) => RecordingClient.Reply = () => RecordingClient.tokenJson(),
  overrides: Partial<OAuthConfig.Options> = {}
) =>
  Effect.gen(function*() {
    const recording = yield* RecordingClient.make(reply)
    const client = yield* OAuthClient.make.pipe(
      Effect.provide(Layer.merge(OAuthConfig.layer({ ...options, ...overrides }), recording.layer))
    )
    return { client, requests: recording.log }
  })

/** Authorizes and builds the callback a server would send for `code`. */
export const authorizeAndCallback = (
  client: OAuthClient.Service,
  extra: Record<string, string> = {}
) =>
  Effect.gen(function*() {
    const request = yield* client.authorize()
    const callback = new URL("https://app.example.com/callback")
    callback.searchParams.set("code", "code-abc")
    callback.searchParams.set("state", Redacted.value(request.pending.state))
    callback.searchParams.set("iss", "https://auth.example.com")
    for (const [name, value] of Object.entries(extra)) callback.searchParams.set(name, value)
    return { ...request, callback }
  })
