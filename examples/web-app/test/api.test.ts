/**
 * The HttpApi version of the example over real HTTP on 127.0.0.1: `GET /api/me` behind
 * `NodeSignInAuthentication.Authentication`, the sign-in routes on the API's router, the embedded mock Credal.
 */
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as WebApi from "../src/api.js"

/** The `name=value` pairs of a response's Set-Cookie headers, for the next request's Cookie header. */
const cookiesOf = (response: Response): string =>
  response.headers.getSetCookie().map((header) => header.split(";")[0] ?? "").filter((pair) => !pair.endsWith("="))
    .join("; ")

const fetchManual = (url: string, cookie?: string) =>
  Effect.promise(() =>
    fetch(url, { redirect: "manual", headers: cookie === undefined ? {} : { cookie, accept: "application/json" } })
  )

describe("HttpApi example", () => {
  it.scopedLive("GET /api/me answers 401 without a session and the signed-in key with one (NodeSignInAuthentication.Authentication)", () =>
    Effect.gen(function*() {
      const api = yield* WebApi.make({ port: 0 })
      const anonymous = yield* fetchManual(`${api.url}/api/me`)
      assert.strictEqual(anonymous.status, 401)

      const login = yield* fetchManual(`${api.url}/login?returnTo=/api/me`)
      assert.strictEqual(login.status, 302)
      const pending = cookiesOf(login)
      const callbackUrl = yield* api.server.approve(login.headers.get("location") ?? "", { user: "ada" })
      const callback = yield* fetchManual(callbackUrl.href, pending)
      assert.strictEqual(callback.status, 302)
      assert.strictEqual(callback.headers.get("location"), "/api/me")
      const session = cookiesOf(callback)
      assert.include(session, "oauth_session=")

      const me = yield* fetchManual(`${api.url}/api/me`, session)
      assert.strictEqual(me.status, 200)
      const body: unknown = yield* Effect.promise(() => me.json())
      assert.deepInclude(body, { key: "credal:ada" })

      const forged = yield* fetchManual(`${api.url}/api/me`, "oauth_session=v1.web-app.AAAAAAAAAAAAAAAA.BBBB")
      assert.strictEqual(forged.status, 401)
    }))
})
