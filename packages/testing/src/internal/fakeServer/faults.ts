/**
 * Fault injection: the queue of injected faults, taken per request, and the broken bodies of `MalformedBody`.
 *
 * @internal
 */
import * as Ref from "effect/Ref"
import type { Endpoint, Fault, MalformedBodyKind } from "../../FakeAuthorizationServer.js"
import { noStore, type Outcome, type ServerContext } from "./state.js"

export const make = (server: ServerContext) => {
  const { faultsRef } = server
  const takeFaults = (endpoint: Endpoint, grantType: string | undefined) =>
    Ref.modify(faultsRef, (queue) => {
      const matches = (fault: Fault) =>
        (fault.endpoint === "any" || fault.endpoint === endpoint) &&
        (fault.grantType === undefined || fault.grantType === grantType)
      const delayIndex = queue.findIndex(({ fault }) => fault._tag === "Delay" && matches(fault))
      const otherIndex = queue.findIndex(({ fault }) => fault._tag !== "Delay" && matches(fault))
      const next = queue
        .map((entry, index) =>
          index === delayIndex || index === otherIndex ? { ...entry, remaining: entry.remaining - 1 } : entry
        )
        .filter((entry) => entry.remaining > 0)
      return [{ delay: queue[delayIndex]?.fault, other: queue[otherIndex]?.fault }, next] as const
    })

  const malformed = (kind: MalformedBodyKind): Outcome => {
    const ok = (body: string, contentType = "application/json"): Outcome => ({
      status: 200,
      body,
      headers: { ...noStore, "content-type": contentType }
    })
    switch (kind) {
      case "html":
        return ok("<!DOCTYPE html><html><body><h1>Sign in</h1></body></html>", "text/html; charset=utf-8")
      case "empty":
        return ok("")
      case "not-json":
        return ok("access_token=at_not_json&token_type=Bearer")
      case "json-array":
        return ok(JSON.stringify([{ access_token: "at_in_array", token_type: "Bearer", expires_in: 3600 }]))
      case "wrong-types":
        return ok(JSON.stringify({ access_token: 12345, token_type: true, expires_in: "soon", refresh_token: {} }))
      case "missing-access-token":
        return ok(JSON.stringify({ token_type: "Bearer", expires_in: 3600, refresh_token: "rt_orphan" }))
      case "wrong-token-type":
        return ok(JSON.stringify({ access_token: "at_mac", token_type: "mac", expires_in: 3600 }))
      case "huge-body":
        return ok(
          JSON.stringify({
            access_token: "at_huge",
            token_type: "Bearer",
            expires_in: 3600,
            padding: "x".repeat(1024 * 1024 + 1024)
          })
        )
    }
  }

  return { takeFaults, malformed }
}
