/**
 * Fault injection: the queue of injected faults, taken per request, and the broken bodies of `MalformedBody`.
 *
 * @internal
 */
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import type { Fault, MalformedBodyKind } from "../../FakeAuthorizationServerFault.js"
import type { Endpoint } from "../../FakeAuthorizationServerLog.js"
import * as internal from "../fakeAuthorizationServer.js"
import { type Incoming, json, noStore, type Outcome, type ServerContext } from "./state.js"

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

  /** An error whose description and URI quote the request in every encoding a server might echo (SPEC S34). */
  const echo = (
    req: Incoming,
    fault: { readonly status?: number | undefined; readonly error?: string | undefined }
  ) => {
    const values = [
      req.bodyText ?? "",
      req.headers["authorization"] ?? "",
      ...Object.values(req.form.record)
    ].filter((value) => value.length > 0)
    const forms = values.flatMap((value) => [
      value,
      encodeURIComponent(value),
      new URLSearchParams([["", value]]).toString().slice(1),
      Buffer.from(value, "utf8").toString("base64"),
      Buffer.from(value, "utf8").toString("base64url")
    ])
    const error = fault.error ?? "invalid_request"
    return {
      ...json(fault.status ?? 400, {
        error,
        error_description: `cannot process ${forms.join(" | ")}`,
        error_uri: `https://errors.example/?echo=${encodeURIComponent(values.join("&"))}`
      }),
      error
    }
  }

  /** The JSON body with `field` replaced by arrays nested `depth` levels deep (built as text: no recursion). */
  const deepen = (outcome: Outcome, field: string, depth: number): Outcome => {
    const parsed = internal.parseJson(outcome.body)
    const value = Option.getOrUndefined(parsed)
    const record = typeof value === "object" && value !== null && !Array.isArray(value) ? value : {}
    const marker = "__fake_deep_json__"
    const text = JSON.stringify({ ...record, [field]: marker })
      .replace(JSON.stringify(marker), "[".repeat(depth) + "]".repeat(depth))
    return { ...outcome, body: text, headers: { ...outcome.headers, "content-type": "application/json" } }
  }

  /** The first `bytes` of the body (default half), then a body that never ends. */
  const stalledBody = (body: string, bytes: number | undefined): ReadableStream<Uint8Array> => {
    const encoded = new TextEncoder().encode(body)
    const prefix = encoded.slice(0, Math.max(0, Math.min(encoded.length, bytes ?? Math.floor(encoded.length / 2))))
    return new ReadableStream<Uint8Array>({
      start(controller) {
        if (prefix.length > 0) controller.enqueue(prefix)
      }
    })
  }

  return { takeFaults, malformed, echo, deepen, stalledBody }
}
