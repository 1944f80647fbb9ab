/**
 * The one deadline of an exchange against a real socket (undici over loopback): a process that was paused
 * or whose event loop was blocked past the deadline finds the timer overdue and the answer unread side by
 * side; the answer that had arrived wins (S48), and a server that had not answered still times out (S32).
 *
 * The pause is made deterministic by blocking this process's event loop from the server's side, after its
 * answer has reached the socket: when the loop runs again, Node runs due timers before it reads sockets, so
 * an exchange that only raced a timer would throw the answer away.
 */
import { ServerExchange } from "@effect-oauth/core"
import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { assert, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as http from "node:http"
import type { AddressInfo } from "node:net"

const timeoutMillis = 300
const blockMillis = 900

/** Blocks the event loop (and so the whole process) for `millis`, as a SIGSTOP or a long GC would. */
const blockEventLoop = (millis: number) => {
  const until = performance.now() + millis
  while (performance.now() < until) {
    // busy: nothing else of this process runs
  }
}

/**
 * Ends the answer with `chunk`, then blocks the process past the deadline: the socket write happens on the
 * next tick, and the block on the tick after it, with no socket read in between; when the loop runs again,
 * the client's deadline timer is due before its socket is read.
 */
const endThenBlock = (response: http.ServerResponse, chunk: string) => {
  response.end(chunk)
  process.nextTick(() => process.nextTick(() => blockEventLoop(blockMillis)))
}

/** A loopback server, closed with the scope; `onRequest` answers (or not). */
const server = (onRequest: (response: http.ServerResponse) => void) =>
  Effect.acquireRelease(
    Effect.async<http.Server>((resume) => {
      const created = http.createServer((_request, response) => onRequest(response))
      created.listen(0, "127.0.0.1", () => resume(Effect.succeed(created)))
    }),
    (created) =>
      Effect.async<void>((resume) => {
        created.closeAllConnections()
        created.close(() => resume(Effect.void))
      })
  ).pipe(Effect.map((created) => `http://127.0.0.1:${(created.address() as AddressInfo).port}/token`))

const exchangeWith = (url: string) =>
  Effect.flatMap(
    HttpClient.HttpClient,
    (client) =>
      ServerExchange.make(client, { timeout: `${timeoutMillis} millis` }).execute(
        HttpClientRequest.post(url),
        "token"
      )
  )

describe("ServerExchange: the deadline and a paused process", () => {
  it.live(
    "S48: an answer that reached the socket before the deadline is read, though the process was blocked past it before reading",
    () =>
      Effect.gen(function*() {
        const url = yield* server((response) => {
          response.writeHead(200, { "content-type": "application/json" })
          endThenBlock(response, JSON.stringify({ access_token: "kept" }))
        })
        const response = yield* exchangeWith(url)
        assert.strictEqual(response.status, 200)
        assert.deepStrictEqual(JSON.parse(response.body), { access_token: "kept" })
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
  )

  it.live(
    "S48: the answer is read when the loop was blocked past the deadline between its headers and its body",
    () =>
      Effect.gen(function*() {
        const url = yield* server((response) => {
          const [head, tail] = ["{\"access_token\":", "\"ok\"}"]
          response.writeHead(200, {
            "content-type": "application/json",
            "content-length": String(head.length + tail.length)
          })
          response.write(head, () => {
            // From the check phase, which the loop leaves for its timers, not for a socket read.
            setTimeout(() => setImmediate(() => endThenBlock(response, tail)), 50)
          })
        })
        const response = yield* exchangeWith(url)
        assert.deepStrictEqual(JSON.parse(response.body), { access_token: "ok" })
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
  )

  it.live(
    "S32: a server that had not answered when the blocked process resumed past the deadline still times out",
    () =>
      Effect.gen(function*() {
        let respond: (() => void) | undefined
        const url = yield* server((response) => {
          // The process is blocked without an answer on the way; the answer comes a second after.
          setTimeout(() => blockEventLoop(blockMillis), 10)
          respond = () => response.end("{}")
        })
        const exit = yield* Effect.exit(exchangeWith(url))
        respond?.()
        assert.isTrue(Exit.isFailure(exit))
        if (Exit.isFailure(exit)) {
          const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
          assert.strictEqual(error?.reason, "Timeout")
        }
      }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici))
  )

  it.live("S32: a server that never answers times out at the deadline when nothing blocked the process", () =>
    Effect.gen(function*() {
      const url = yield* server(() => {})
      const started = performance.now()
      const error = yield* Effect.flip(exchangeWith(url))
      const elapsed = performance.now() - started
      assert.strictEqual(error.reason, "Timeout")
      // No grace for an on-time deadline: it ends at the deadline, not a pause's grace later.
      assert.isBelow(elapsed, timeoutMillis + 250)
    }).pipe(Effect.scoped, Effect.provide(NodeHttpClient.layerUndici)))
})
