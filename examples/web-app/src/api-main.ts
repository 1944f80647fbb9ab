/**
 * `pnpm --filter @effect-oauth/example-web-app start:api`: the HttpApi version of the example on
 * http://127.0.0.1:3001 (see `api.ts`). Open /login, approve on the mock's page, then /api/me.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as WebApi from "./api.js"

const program = Effect.gen(function*() {
  const api = yield* WebApi.make()
  yield* Console.log(`HttpApi example on ${api.url}: open ${api.url}/login?returnTo=/api/me. Press Ctrl-C to stop.`)
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))
