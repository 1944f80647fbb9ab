/**
 * `pnpm demo:web`: the web app example on http://127.0.0.1:3000 with the embedded mock Credal (or the
 * real provider when `OAUTH_*` variables are set; see `app.ts`). Runs until Ctrl-C.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as WebApp from "./app.js"

const program = Effect.gen(function*() {
  const app = yield* WebApp.make(yield* WebApp.optionsFromEnv)
  yield* Console.log(WebApp.banner(app))
  return yield* Effect.never
})

NodeRuntime.runMain(Effect.scoped(program))
