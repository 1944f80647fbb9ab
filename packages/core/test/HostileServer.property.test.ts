/**
 * Arbitrary server behaviour (SPEC S32–S34, S18): a token, revocation and metadata endpoint that
 * answers any status, any content type, any body shape (valid tokens, errors echoing the request in
 * every encoding, JSON nested thousands of levels deep, out-of-range numbers, random JSON and text) at
 * any timing (at once, late, never after the headers, never at all, a lost connection), driving the
 * code exchange, a refresh through `AccessTokens`, a revocation and discovery, all on `TestClock`.
 *
 * For every call: it ends within its deadlines with a value or a typed `OAuthError`; no secret the client
 * sent (client secret, code, verifier, refresh token, Basic credentials; raw, form-, URL- or
 * Base64-encoded, even when a response header echoes it) appears in the error's `String`, `JSON.stringify`, `util.inspect` or `Cause.pretty`, in
 * the log output or in span attributes, events and status; after a failed refresh the stored tokens are
 * unchanged or newer, and the next refresh sends the old refresh token or a newer one, never a lost one.
 */
import type { OAuthConfig } from "@effect-oauth/core"
import { AccessTokens, Discovery, OAuthClient, OAuthError, TokenSet, TokenStore } from "@effect-oauth/core"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientError from "@effect/platform/HttpClientError"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Encoding from "effect/Encoding"
import * as Exit from "effect/Exit"
import * as FastCheck from "effect/FastCheck"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as TestClock from "effect/TestClock"
import * as Tracer from "effect/Tracer"
import { inspect } from "node:util"

const issuer = "https://auth.example.com"
const clientSecret = "client-secret-Zx9/+%:é"
const deadline = Duration.seconds(10)

const options: OAuthConfig.Options = {
  clientId: "client-1",
  clientSecret: Redacted.make(clientSecret),
  authorizationEndpoint: `${issuer}/authorize`,
  tokenEndpoint: `${issuer}/token`,
  revocationEndpoint: `${issuer}/revoke`,
  redirectUri: "https://app.example.com/callback",
  scopes: ["read"],
  issuer,
  requestTimeout: deadline
}

type Timing =
  | { readonly _tag: "Now" }
  | { readonly _tag: "Late"; readonly millis: number }
  | { readonly _tag: "StalledBody" }
  | { readonly _tag: "StalledHeaders" }
  | { readonly _tag: "Transport" }

type Body =
  | { readonly _tag: "Tokens"; readonly expiresIn: unknown; readonly rotate: boolean }
  | { readonly _tag: "Echo"; readonly error: string }
  | { readonly _tag: "Deep"; readonly field: string; readonly depth: number }
  | { readonly _tag: "Json"; readonly value: unknown }
  | { readonly _tag: "Text"; readonly text: string }
  | { readonly _tag: "Metadata"; readonly issuer: string }
  | { readonly _tag: "Empty" }

interface Behaviour {
  readonly status: number
  readonly contentType: string | undefined
  /** A response header that echoes the request body. */
  readonly echoHeader: boolean
  readonly body: Body
  readonly timing: Timing
}

const behaviour: FastCheck.Arbitrary<Behaviour> = FastCheck.record({
  status: FastCheck.oneof(
    FastCheck.constantFrom(200, 200, 200, 400, 401, 404, 500, 503),
    FastCheck.integer({ min: 200, max: 599 })
  ),
  contentType: FastCheck.constantFrom(undefined, "application/json", "text/html; charset=utf-8", "text/plain"),
  echoHeader: FastCheck.boolean(),
  body: FastCheck.oneof(
    FastCheck.record({
      _tag: FastCheck.constant("Tokens" as const),
      expiresIn: FastCheck.oneof(
        FastCheck.constantFrom(3600, 0, 9999999999999, -1, 1e300, "3600", "99999999999999", 1.5, null),
        FastCheck.integer()
      ),
      rotate: FastCheck.boolean()
    }),
    FastCheck.record({
      _tag: FastCheck.constant("Echo" as const),
      error: FastCheck.constantFrom("invalid_grant", "invalid_request", "invalid_client", "server_error")
    }),
    FastCheck.record({
      _tag: FastCheck.constant("Deep" as const),
      field: FastCheck.constantFrom("access_token", "scope", "expires_in", "issuer", "error", "error_description"),
      depth: FastCheck.constantFrom(1, 100, 10_000)
    }),
    FastCheck.record({ _tag: FastCheck.constant("Json" as const), value: FastCheck.jsonValue({ maxDepth: 3 }) }),
    FastCheck.record({ _tag: FastCheck.constant("Text" as const), text: FastCheck.string({ maxLength: 200 }) }),
    FastCheck.record({
      _tag: FastCheck.constant("Metadata" as const),
      issuer: FastCheck.constantFrom(issuer, `${issuer}/other`)
    }),
    FastCheck.constant({ _tag: "Empty" as const })
  ),
  timing: FastCheck.oneof(
    FastCheck.constant({ _tag: "Now" as const }),
    FastCheck.constant({ _tag: "Now" as const }),
    FastCheck.record({ _tag: FastCheck.constant("Late" as const), millis: FastCheck.integer({ min: 1, max: 20_000 }) }),
    FastCheck.constant({ _tag: "StalledBody" as const }),
    FastCheck.constant({ _tag: "StalledHeaders" as const }),
    FastCheck.constant({ _tag: "Transport" as const })
  )
})

interface Sent {
  readonly body: string
  readonly form: URLSearchParams
  readonly authorization: string | undefined
}

let issued = 0

const bodyText = (body: Body, sent: Sent): string => {
  switch (body._tag) {
    case "Tokens":
      issued++
      return JSON.stringify({
        access_token: `at-new-${issued}`,
        token_type: "Bearer",
        ...(body.expiresIn === null ? {} : { expires_in: body.expiresIn }),
        ...(body.rotate ? { refresh_token: `rt-new-${issued}` } : {})
      })
    case "Echo": {
      const values = [sent.body, sent.authorization ?? "", ...sent.form.values()].filter((v) => v.length > 0)
      const forms = values.flatMap((v) => [v, encodeURIComponent(v), Encoding.encodeBase64(v)])
      return JSON.stringify({
        error: body.error,
        error_description: `echo ${forms.join(" ")}`,
        error_uri: `https://e.example/?q=${encodeURIComponent(values.join("&"))}`
      })
    }
    case "Deep": {
      const nested = "[".repeat(body.depth) + "]".repeat(body.depth)
      return `{"access_token":"at-deep","token_type":"Bearer","issuer":"${issuer}","error":"invalid_grant","${body.field}":${nested}}`
    }
    case "Json":
      return JSON.stringify(body.value) ?? ""
    case "Text":
      return body.text
    case "Metadata":
      return JSON.stringify({
        issuer: body.issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`
      })
    case "Empty":
      return ""
  }
}

const nullBody = new Set([204, 205, 304])

/** An HttpClient that answers every request with `current`, recording what was sent. */
const hostileClient = (current: { behaviour: Behaviour }, log: Array<Sent>) =>
  HttpClient.make((request) =>
    Effect.gen(function*() {
      const body = request.body._tag === "Uint8Array" ? new TextDecoder().decode(request.body.body) : ""
      const sent: Sent = { body, form: new URLSearchParams(body), authorization: request.headers["authorization"] }
      log.push(sent)
      const { status, contentType, timing } = current.behaviour
      if (timing._tag === "Transport") {
        return yield* new HttpClientError.RequestError({ request, reason: "Transport", description: "reset" })
      }
      if (timing._tag === "Late") yield* Effect.sleep(Duration.millis(timing.millis))
      if (timing._tag === "StalledHeaders") return yield* Effect.never
      const text = bodyText(current.behaviour.body, sent)
      const bytes = new TextEncoder().encode(text)
      const stream = timing._tag === "StalledBody"
        ? new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(bytes.slice(0, Math.floor(bytes.length / 2)))
          }
        })
        : text
      return HttpClientResponse.fromWeb(
        request,
        new Response(nullBody.has(status) ? null : stream, {
          status,
          headers: {
            ...(contentType === undefined ? {} : { "content-type": contentType }),
            ...(current.behaviour.echoHeader ? { "x-request-echo": encodeURIComponent(body) } : {})
          }
        })
      )
    })
  )

/** Every spelling of every secret the client sent in `log`. */
const secretsSent = (log: ReadonlyArray<Sent>): ReadonlyArray<string> => {
  const raw = new Set<string>([clientSecret])
  for (const sent of log) {
    for (const name of ["code", "code_verifier", "refresh_token", "token", "client_secret"]) {
      const value = sent.form.get(name)
      if (value !== null && value.length > 0) raw.add(value)
    }
    if (sent.authorization !== undefined) raw.add(sent.authorization.replace(/^Basic /, ""))
  }
  return Array.from(raw).flatMap((secret) => [
    secret,
    encodeURIComponent(secret),
    new URLSearchParams([["", secret]]).toString().slice(1),
    Encoding.encodeBase64(secret),
    Encoding.encodeBase64Url(secret)
  ])
}

/** Log output and spans of a run. */
const recorders = Effect.gen(function*() {
  const lines: Array<string> = []
  const logger = Logger.make(({ annotations, cause, message }) => {
    lines.push(inspect(message, { depth: 10 }), inspect(annotations, { depth: 10 }), Cause.pretty(cause))
  })
  const base = yield* Effect.tracer
  const spans: Array<Tracer.Span> = []
  const tracer = Tracer.make({
    span: (...args) => {
      const span = base.span(...args)
      spans.push(span)
      return span
    },
    context: (f, fiber) => base.context(f, fiber)
  })
  const spanText = () =>
    spans.map((span) => {
      const events = "events" in span && Array.isArray(span.events) ? span.events : []
      const exit = span.status._tag === "Ended" ? span.status.exit : undefined
      return inspect({
        attributes: Array.from(span.attributes),
        events,
        cause: exit !== undefined && Exit.isFailure(exit) ? Cause.pretty(exit.cause) : ""
      }, { depth: 10 })
    }).join("\n")
  return { lines, tracer, spanText, logger }
})

type Operation = "exchange" | "refresh" | "revoke" | "discover"

/** How long an operation may take at most: its exchanges, each within the deadline, and its back-offs. */
const bound: Record<Operation, Duration.Duration> = {
  exchange: Duration.sum(deadline, Duration.seconds(1)),
  refresh: Duration.sum(deadline, Duration.seconds(30)),
  revoke: Duration.sum(Duration.times(deadline, 4), Duration.seconds(3)),
  discover: Duration.sum(Duration.times(deadline, 2), Duration.seconds(1))
}

const endsOrNone = <A>(fiber: Fiber.Fiber<A>): Effect.Effect<Option.Option<A>> =>
  Effect.race(
    Effect.map(Fiber.join(fiber), Option.some),
    Effect.as(Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5_000))), Option.none())
  )

const run = (operation: Operation, server: Behaviour) =>
  Effect.gen(function*() {
    const current = { behaviour: server }
    const log: Array<Sent> = []
    const http = Layer.succeed(HttpClient.HttpClient, hostileClient(current, log))
    const { lines, logger, spanText, tracer } = yield* recorders
    const layer = AccessTokens.layer().pipe(
      Layer.provideMerge(TokenStore.layerMemory),
      Layer.provideMerge(OAuthClient.layerWithConfig(options)),
      Layer.provideMerge(http),
      Layer.provideMerge(Logger.replace(Logger.defaultLogger, logger))
    )
    yield* Effect.gen(function*() {
      const client = yield* OAuthClient.OAuthClient
      const tokens = yield* AccessTokens.AccessTokens
      const store = yield* TokenStore.TokenStore
      const now = yield* DateTime.now
      const original = new TokenSet.TokenSet({
        accessToken: Redacted.make("at-old"),
        tokenType: "Bearer",
        refreshToken: Option.some(Redacted.make("rt-old-secret")),
        expiresAt: DateTime.subtract(now, { seconds: 1 }),
        refreshExpiresAt: Option.none(),
        issuedAt: DateTime.subtract(now, { hours: 1 }),
        scopes: ["read"]
      })
      yield* tokens.save("k", original)
      // authorize before the clock moves: its PKCE digest is real (crypto) work, not simulated time
      const { pending } = yield* client.authorize()
      const call: Effect.Effect<unknown, unknown> = operation === "exchange"
        ? client.exchange(Redacted.make("code-secret-42"), pending)
        : operation === "refresh"
        ? tokens.get("k")
        : operation === "revoke"
        ? client.revoke(Redacted.make("rt-old-secret"))
        : Effect.provide(Discovery.discover(issuer, { timeout: deadline }), http)
      const fiber = yield* Effect.fork(
        Effect.exit(call.pipe(Effect.withTracer(tracer), Logger.withMinimumLogLevel(LogLevel.All)))
      )
      yield* TestClock.adjust(bound[operation])
      // The simulated clock stops at the bound: a call that needs more of it never ends, one that only
      // waits for real work (crypto) ends at once. Real time only guards against that hang.
      const exit = yield* endsOrNone(fiber)
      assert.isTrue(Option.isSome(exit), `${operation} ended within ${Duration.format(bound[operation])}`)
      if (Option.isNone(exit)) return
      if (Exit.isFailure(exit.value)) {
        assert.isTrue(Cause.isFailType(exit.value.cause), `a typed failure: ${Cause.pretty(exit.value.cause)}`)
        const error = Cause.squash(exit.value.cause)
        assert.isTrue(OAuthError.isOAuthError(error), `an OAuthError: ${String(error)}`)
        const renderings = [
          String(error),
          JSON.stringify(error),
          inspect(error, { depth: 20 }),
          Cause.pretty(exit.value.cause)
        ]
        for (const secret of secretsSent(log)) {
          for (const rendering of renderings) assert.notInclude(rendering, secret)
        }
      }
      const logged = lines.join("\n")
      const traced = spanText()
      for (const secret of secretsSent(log)) {
        assert.notInclude(logged, secret, "log output")
        assert.notInclude(traced, secret, "span attributes, events and status")
      }
      if (operation === "refresh" && Exit.isFailure(exit.value)) {
        // what the server may have issued in this run, and the original
        const known = ["rt-old-secret", ...Array.from({ length: issued }, (_, i) => `rt-new-${i + 1}`)]
        const error = Cause.squash(exit.value.cause)
        const rejected = error instanceof OAuthError.ReauthorizationRequired
        const stored = yield* store.get("k")
        if (!rejected) assert.isTrue(Option.isSome(stored), "the stored tokens are kept")
        if (Option.isSome(stored)) {
          const refreshToken = Option.map(stored.value.tokens.refreshToken, Redacted.value)
          assert.isTrue(Option.isSome(refreshToken) && known.includes(refreshToken.value), "unchanged or newer")
        }
        // the next refresh, answered well, sends the old refresh token or a newer one
        current.behaviour = {
          status: 200,
          contentType: "application/json",
          echoHeader: false,
          body: { _tag: "Tokens", expiresIn: 3600, rotate: true },
          timing: { _tag: "Now" }
        }
        const before = log.length
        const next = yield* Effect.fork(Effect.exit(tokens.get("k")))
        yield* TestClock.adjust(bound.refresh)
        assert.isTrue(Option.isSome(yield* endsOrNone(next)), "the next refresh ends")
        for (const sent of log.slice(before)) {
          const presented = sent.form.get("refresh_token")
          if (presented !== null) assert.include(known, presented, "never a lost refresh token")
        }
      }
    }).pipe(Effect.provide(layer), Effect.scoped)
  })

describe("arbitrary server behaviour (S32, S33, S34, S18)", () => {
  it.effect.prop(
    "every exchange ends within its deadline with a value or a typed error, shows no secret it sent, and loses no tokens",
    [FastCheck.constantFrom<Operation>("exchange", "refresh", "revoke", "discover"), behaviour],
    ([operation, server]) => run(operation, server),
    { fastCheck: { numRuns: 200 } }
  )
})
