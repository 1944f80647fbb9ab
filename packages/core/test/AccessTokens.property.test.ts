/**
 * The token lifecycle as a property (issue "Token lifecycle"; SPEC S17–S25): random programs of
 * concurrent `get`s from 1–3 `AccessTokens` instances ("processes") sharing one store, clock jumps,
 * `invalidate`, process restarts, store write faults, token endpoint faults and interruptions, all on
 * `TestClock`. After each program, the fake server's request log and what every `get` returned are
 * checked against the invariants in `check` below. The step vocabulary is in `./utils/programs.ts`.
 *
 * A refresh whose answer the client never received (S22) makes its refresh token possibly spent
 * (S44): it is never presented again, the key keeps serving its access token until it expires, and
 * then needs a new sign-in (`refresh-outcome-unknown`). The programs record these losses as seen by
 * the client (a wrapped `OAuthClient`), since a timed-out request may never reach the server's log.
 *
 * Two properties:
 * - strict: no lost locks, and with more than one process or with restarts, write failures within
 *   the write retry budget (4 in a row): beyond it, new tokens that could not be stored live only in
 *   the memory of the process that got them, and another process, or the same one restarted, can
 *   only send the old refresh token. Every invariant holds in full.
 * - degraded: lost locks and unbounded write failures with 2–3 processes. There a second process
 *   can legitimately present a rotated refresh token: when one process's lock is lost, or when it
 *   holds the only copy of new tokens it could not store, the other reads the old refresh token from
 *   the store and the lock cannot prevent it. So "no reused refresh token" is not checked; tokens
 *   handed out must still be valid, re-authorization must follow a real rejection by the server, and
 *   nothing may hang. The server does not revoke the grant on reuse there (as Credal documents),
 *   otherwise one lost lock would end the grant and leave nothing to check.
 *
 * Replaying a failure: fast-check prints `{ seed: …, path: "…", endOnFailure: true }` and the
 * shrunk program (numbered steps). Paste them into the property's options,
 * `fastCheck: { numRuns: 200, seed: -123, path: "17:3:0", endOnFailure: true }`, and run
 * `pnpm exec vitest run --project core AccessTokens.property`: that program runs first. The failure
 * message repeats the program, names the broken invariants and gives a trace (steps, token requests
 * as `#n` with their log index, gets), with tokens shortened to A1, A2… (access) and R1, R2… (refresh).
 *
 * No step can hang the test: waits move the clock from sleep to sleep (server delay, request
 * timeout, lock lease, write retry) only while work is pending, and pending work that needs more than
 * 15 simulated minutes, or waits with no sleep to move to, is reported as a hang.
 *
 * The shrunk counterexamples the property found are kept as plain programs
 * (`Programs.counterexamples`) and run as tests of their own.
 */
import { AccessTokens, OAuthClient, type OAuthError, TokenSet, TokenStore } from "@effect-oauth/core"
import { FakeAuthorizationServer, OAuthTest, TestTokenStore } from "@effect-oauth/testing"
import { assert, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import * as TestClock from "effect/TestClock"
import * as Programs from "./utils/programs.js"

const { Fault } = FakeAuthorizationServer

const minute = 60_000
const accessLifetime = 60 * minute
const refreshWindow = minute
/**
 * With background refresh (the default) a token valid for longer than this is handed out while a
 * refresh runs (S43): the request timeout (30 s) plus 5 s.
 */
const minValidity = 35_000
const refreshLifetime = 30 * 24 * 60 * minute
/** The longest a program waits for pending work before it calls it a hang. */
const hangLimit = 15 * minute

/** What injected faults can explain a failed `get` (SPEC S16, S18, S22). */
type Injected = "store-write" | "timeout" | "lost-answer" | "bad-answer"

/** The outcome of one `get`, observed at the instant it returned, before the clock moves. */
interface Observation {
  readonly process: number
  /** Which instance of the process (restarts make new ones). */
  readonly generation: number
  readonly key: string
  /** The step that started the get; `Infinity` for the final gets. */
  readonly step: number
  readonly final: boolean
  readonly at: number
  /** How many requests the fake server had logged when the get returned. */
  readonly logIndex: number
  readonly injected: ReadonlySet<Injected>
  /** The process instance had been shut down by a restart when the get returned. */
  readonly shutDown: boolean
  readonly exit: Exit.Exit<string, AccessTokens.GetError>
  /** The fake server accepts the token at that instant. */
  readonly valid: boolean
  /** The token was issued to the key's own grant. */
  readonly ownGrant: boolean
  readonly grantRevoked: boolean
}

interface Invalidation {
  readonly process: number
  readonly generation: number
  readonly key: string
  readonly step: number
  readonly token: string
  /** The token is the last one this process instance handed out for the key, so its cache holds it. */
  readonly current: boolean
  readonly logIndex: number
}

interface Mode {
  readonly name: "strict" | "degraded"
  readonly server: Partial<FakeAuthorizationServer.Options>
}

const strict: Mode = { name: "strict", server: {} }
const degraded: Mode = { name: "degraded", server: { reuseRevokesFamily: false } }

/** Counts store locks held or awaited, so that a program knows when no refresh is in flight. */
const tracked = (store: TokenStore.Service, tracker: { locks: number }): TokenStore.Service => ({
  ...store,
  lock: (key, options) =>
    Effect.zipRight(
      Effect.acquireRelease(Effect.sync(() => tracker.locks++), () => Effect.sync(() => tracker.locks--)),
      store.lock(key, options)
    )
})

const serverFault = (fault: Programs.ServerFault): FakeAuthorizationServer.Fault => {
  const target = { endpoint: "token", grantType: "refresh_token" } as const
  switch (fault._tag) {
    case "Delay":
      return Fault.Delay({ ...target, duration: Duration.seconds(fault.seconds), times: fault.times })
    case "CommitThenDrop":
      return Fault.CommitThenDrop(target)
    case "TransportError":
      return Fault.TransportError(target)
    case "Status503":
      return Fault.Status({ ...target, status: 503, times: fault.times })
    case "MalformedBody":
      return Fault.MalformedBody({ ...target, kind: fault.kind })
  }
}

const injectedBy = (fault: Programs.ServerFault): Injected | undefined => {
  switch (fault._tag) {
    case "Delay":
      // The request timeout is 30 seconds.
      return fault.seconds > 30 ? "timeout" : undefined
    case "CommitThenDrop":
    case "TransportError":
      return "lost-answer"
    case "Status503":
    case "MalformedBody":
      return "bad-answer"
  }
}

/** Which injected faults can explain each typed error of `get` other than re-authorization. */
const explains: Record<Exclude<AccessTokens.GetError["_tag"], "ReauthorizationRequired">, ReadonlyArray<Injected>> = {
  TokenStoreError: ["store-write"],
  RefreshOutcomeUnknown: ["timeout", "lost-answer"],
  HttpError: ["bad-answer"],
  InvalidTokenResponse: ["bad-answer"],
  ErrorResponse: [],
  InvalidIdToken: []
}

const outcomeText = (exit: Exit.Exit<string, AccessTokens.GetError>, alias: (token: string) => string) =>
  Exit.match(exit, {
    onSuccess: alias,
    onFailure: (cause) =>
      Option.match(Cause.failureOption(cause), {
        onNone: () => `defect: ${Cause.pretty(cause).split("\n")[0]}`,
        onSome: (e) => e._tag === "ReauthorizationRequired" ? `ReauthorizationRequired(${e.reason})` : e._tag
      })
  })

const runProgram = (program: Programs.Program, mode: Mode) =>
  Effect.gen(function*() {
    const server = yield* FakeAuthorizationServer.FakeAuthorizationServer
    const { controls: storeFaults, store } = yield* TestTokenStore.make(yield* TokenStore.makeMemory)
    const tracker = { locks: 0 }

    // Refreshes whose answer the client lost (S22): their refresh token is possibly spent (S44).
    const lost: Array<LostAnswer> = []
    const oauth = yield* OAuthClient.OAuthClient
    const recording = OAuthClient.OAuthClient.of({
      ...oauth,
      refresh: (tokens, options) =>
        oauth.refresh(tokens, options).pipe(
          // A lost answer, or a request cut off by a process shutting down.
          Effect.onExit((exit) =>
            Exit.isFailure(exit) &&
              (Cause.isInterrupted(exit.cause) ||
                Option.exists(Cause.failureOption(exit.cause), (error) => error._tag === "RefreshOutcomeUnknown"))
              ? Effect.flatMap(server.requests, (requests) =>
                Effect.sync(() => {
                  const token = tokens instanceof TokenSet.TokenSet
                    ? Option.getOrUndefined(Option.map(tokens.refreshToken, Redacted.value))
                    : Redacted.value(tokens)
                  if (token !== undefined) lost.push({ token, logIndex: requests.length })
                }))
              : Effect.void
          )
        )
    })

    // Each process lives in its own scope, closed by `Restart` or, without waiting, at the end.
    const processes: Array<{ service: AccessTokens.Service; scope: Scope.CloseableScope; generation: number }> = []
    let generations = 0
    const start = Effect.gen(function*() {
      const scope = yield* Scope.make()
      const service = yield* AccessTokens.make().pipe(
        Effect.provideService(TokenStore.TokenStore, tracked(store, tracker)),
        Effect.provideService(OAuthClient.OAuthClient, recording),
        Scope.extend(scope)
      )
      return { service, scope, generation: generations++ }
    })
    for (let p = 0; p < program.processes; p++) processes.push(yield* start)
    yield* Effect.addFinalizer(() =>
      Effect.forkDaemon(Effect.forEach(processes, ({ scope }) => Scope.close(scope, Exit.void)))
    )
    const processAt = (i: number) => processes[i] ?? assert.fail(`no process ${i}`)
    const keys = Array.from({ length: program.keys }, (_, i) => `k${i}`)
    const keyAt = (i: number) => keys[i] ?? assert.fail(`no key ${i}`)

    // --- the trace: steps, token requests and gets, tokens shortened -----------------------------
    const aliases = new Map<string, string>()
    const counts = { A: 0, R: 0 }
    const alias = (token: string | undefined) => {
      if (token === undefined) return "-"
      let name = aliases.get(token)
      if (name === undefined) {
        const prefix = token.startsWith("rt_") ? "R" : "A"
        name = `${prefix}${++counts[prefix]}`
        aliases.set(token, name)
      }
      return name
    }
    const trace: Array<string> = []
    let traced = 0
    const flushLog = Effect.gen(function*() {
      const requests = yield* server.requests
      for (; traced < requests.length; traced++) {
        const r = requests[traced]
        if (r === undefined || r.endpoint !== "token") continue
        const flags = [r.fault, r.reusedRefreshToken ? "REUSED" : undefined, r.delivered ? undefined : "answer lost"]
          .filter((flag) => flag !== undefined)
        trace.push(
          `    #${traced} t=${Programs.duration(r.at)} refresh with ${alias(r.refreshTokenPresented)} → ${r.status}${
            r.error === undefined ? "" : ` ${r.error}`
          }${flags.length > 0 ? ` (${flags.join(", ")})` : ""}`
        )
      }
    })
    const note = (text: string) =>
      Effect.gen(function*() {
        yield* flushLog
        trace.push(`  t=${Programs.duration(yield* Clock.currentTimeMillis)} ${text}`)
      })

    // --- sign-ins: the grant a sign-in would give, without the authorization code flow ----------------
    const signIns = new Map<string, { readonly at: number; readonly logIndex: number }>()
    for (const key of keys) {
      const grant = yield* server.issueGrant({ user: key }).pipe(Effect.orDie)
      const now = yield* Clock.currentTimeMillis
      const tokens = new TokenSet.TokenSet({
        accessToken: Redacted.make(grant.accessToken),
        tokenType: "Bearer",
        refreshToken: Option.some(Redacted.make(grant.refreshToken)),
        expiresAt: DateTime.unsafeMake(now + grant.expiresIn * 1000),
        refreshExpiresAt: Option.some(DateTime.unsafeMake(now + refreshLifetime)),
        issuedAt: DateTime.unsafeMake(now),
        scopes: grant.scope
      })
      yield* processAt(0).service.save(key, tokens).pipe(Effect.orDie)
      signIns.set(key, { at: now, logIndex: (yield* server.requests).length })
      yield* note(`${key} signed in: ${alias(grant.accessToken)}, ${alias(grant.refreshToken)}`)
    }

    // --- running gets -------------------------------------------------------------------------------
    const observations: Array<Observation> = []
    const invalidations: Array<Invalidation> = []
    const injected = new Set<Injected>()
    const lastToken = new Map<string, string>()
    const pending: Array<Fiber.RuntimeFiber<unknown, unknown>> = []
    /** Process instances that were shut down by a restart. */
    const closed = new Set<number>()
    let stepIndex = 0
    let hung: string | undefined

    const call = (process: number, key: string, final: boolean) => {
      // The instance and the step are those of the moment the get is started.
      const { generation, service } = processAt(process)
      const step = final ? Infinity : stepIndex
      return Effect.gen(function*() {
        const exit = yield* Effect.exit(Effect.map(service.get(key), Redacted.value))
        // Everything below is synchronous: it observes the instant the get returned.
        const at = yield* Clock.currentTimeMillis
        const logIndex = (yield* server.requests).length
        const grant = (yield* server.grants).find((g) => g.user === key)
        const token = Exit.isSuccess(exit) ? exit.value : undefined
        const valid = token === undefined ? false : yield* server.isAccessTokenValid(token)
        if (token !== undefined && processAt(process).generation === generation) {
          lastToken.set(`${process}/${key}`, token)
        }
        observations.push({
          process,
          generation,
          key,
          step,
          final,
          at,
          logIndex,
          injected: new Set(injected),
          shutDown: closed.has(generation),
          exit,
          valid,
          ownGrant: token !== undefined && grant?.accessTokens.includes(token) === true,
          grantRevoked: grant?.revoked === true
        })
        yield* note(
          `p${process} get ${key} → ${outcomeText(exit, alias)}${token === undefined || valid ? "" : " (NOT VALID)"}`
        )
      })
    }

    const fork = (calls: ReadonlyArray<readonly [number, number]>, final: boolean) =>
      Effect.forEach(calls, ([p, k]) =>
        Effect.map(Effect.fork(call(p, keyAt(k), final)), (fiber) => {
          pending.push(fiber)
        }))

    const busy = () => tracker.locks > 0 || pending.some((fiber) => fiber.unsafePoll() === null)

    /** Moves the clock from sleep to sleep until no get is pending and no refresh is in flight. */
    const settle = Effect.gen(function*() {
      const start = yield* Clock.currentTimeMillis
      let idle = 0
      while (true) {
        // Most work finishes within a few dozen yields; otherwise wait until every fiber is suspended.
        for (let i = 0; i < 64 && busy(); i++) yield* Effect.yieldNow()
        if (busy()) yield* TestClock.adjust(0)
        if (!busy()) return
        const now = yield* Clock.currentTimeMillis
        const next = Chunk.toReadonlyArray(yield* TestClock.sleeps()).filter((t) => t > now)
        if (now - start > hangLimit || (next.length === 0 && ++idle > 3)) {
          const gets = pending.filter((fiber) => fiber.unsafePoll() === null).length
          hung = `after ${
            Programs.duration(now - start)
          } (simulated), ${gets} fiber(s) still pending and ${tracker.locks} store lock(s) held or awaited, with ${
            next.length === 0 ? "no sleep left to wake them" : "sleeps still to come"
          }`
          return yield* Effect.interrupt
        }
        yield* TestClock.adjust(next.length === 0 ? 0 : Math.min(...next) - now)
      }
    })

    const storedTokens = (key: string) =>
      Effect.map(Effect.orDie(store.get(key)), Option.map((record) => record.tokens))

    // --- the program --------------------------------------------------------------------------------
    const runStep = (step: Programs.Step) =>
      Effect.gen(function*() {
        yield* note(`STEP ${stepIndex + 1}. ${Programs.stepText(step)}`)
        switch (step._tag) {
          case "Get": {
            yield* fork(step.calls, false)
            if (step.settle) yield* settle
            return
          }
          case "Advance":
            return yield* TestClock.adjust(step.millis)
          case "ToRefreshPoint": {
            // The newest tokens the client received, whether or not it could store them.
            const view = yield* analyse(server, keys, signIns, lost)
            const key = keyAt(step.key)
            const issued = view.refreshExpiry(key, Infinity) - refreshLifetime
            const target = issued + accessLifetime - refreshWindow + step.offset
            const now = yield* Clock.currentTimeMillis
            if (target > now) yield* TestClock.adjust(target - now)
            return
          }
          case "Invalidate": {
            const key = keyAt(step.key)
            const last = lastToken.get(`${step.process}/${key}`)
            const token = last ??
              Option.getOrUndefined(
                Option.map(yield* storedTokens(key), (tokens) => Redacted.value(tokens.accessToken))
              )
            if (token === undefined) return
            yield* note(`  invalidates ${alias(token)}`)
            invalidations.push({
              process: step.process,
              generation: processAt(step.process).generation,
              key,
              step: stepIndex,
              token,
              current: last !== undefined,
              logIndex: (yield* server.requests).length
            })
            return yield* processAt(step.process).service.invalidate(key, Redacted.make(token))
          }
          case "Interrupt": {
            yield* TestClock.adjust(step.after)
            const running = pending.filter((fiber) => fiber.unsafePoll() === null)
            const chosen = step.which === "all"
              ? running
              : step.which === "oldest"
              ? running.slice(0, 1)
              : running.slice(-1)
            yield* note(`  interrupts ${chosen.length} pending get(s)`)
            // Not awaited: an interruption that cannot finish is found as a hang by the next wait.
            return yield* Effect.forEach(chosen, Fiber.interruptFork, { discard: true })
          }
          case "Restart": {
            const old = processAt(step.process)
            closed.add(old.generation)
            processes[step.process] = yield* start
            for (const key of keys) lastToken.delete(`${step.process}/${key}`)
            // The old instance shuts down while the new one serves: closing waits for its refreshes. Gets
            // forked on it just before may only start once it is closing or closed.
            pending.push(yield* Effect.fork(Scope.close(old.scope, Exit.void)))
            return
          }
          case "FailWrites": {
            // In the strict property a count set while a write is being retried would add to that
            // write's failures, beyond the retry budget.
            if (mode.name === "strict") yield* settle
            injected.add("store-write")
            return yield* storeFaults.failWrites(step.times, { afterWrite: step.afterWrite })
          }
          case "LoseLocks":
            return yield* storeFaults.loseLocks(step.times)
          case "Heal":
            return yield* Effect.zipRight(storeFaults.heal, server.clearFaults)
          case "ServerFault": {
            const kind = injectedBy(step.fault)
            if (kind !== undefined) injected.add(kind)
            return yield* server.inject(serverFault(step.fault))
          }
          case "Settle":
            return yield* settle
        }
      })

    const ran = yield* Effect.exit(Effect.gen(function*() {
      for (const step of program.steps) {
        yield* runStep(step)
        stepIndex++
      }
      yield* note("END: heal, settle, then a final get of every still-authorized key in every process")
      yield* Effect.zipRight(storeFaults.heal, server.clearFaults)
      yield* settle
      const view = yield* analyse(server, keys, signIns, lost)
      const now = yield* Clock.currentTimeMillis
      const authorized = keys.filter((key) => view.stillAuthorized(key, now, observations, mode))
      yield* note(`still authorized: ${authorized.join(", ") || "none"}`)
      yield* fork(processes.flatMap((_, p) => authorized.map((key) => [p, keys.indexOf(key)] as const)), true)
      yield* settle
    }))
    yield* flushLog
    if (Exit.isFailure(ran) && hung === undefined) return yield* Effect.failCause(ran.cause)

    const view = yield* analyse(server, keys, signIns, lost)
    const violations = hung !== undefined
      ? [`no hang: ${hung}`]
      : check(program.processes, view, observations, invalidations, mode)
    if (violations.length > 0) {
      assert.fail(
        [
          `${violations.length} invariant violation(s) (${mode.name}):`,
          ...violations.map((v) => `- ${v}`),
          "",
          Programs.programText(program),
          "",
          "trace:",
          ...trace
        ].join("\n")
      )
    }
  }).pipe(Effect.scoped, Effect.provide(OAuthTest.layer({ server: mode.server })), Effect.orDie)

// --- reading the server's log -------------------------------------------------------------------------

interface Refresh {
  readonly index: number
  readonly at: number
  readonly key: string
  readonly presented: string
  /** The server rotated the refresh token (a 200 that was not a fault's canned answer). */
  readonly committed: boolean
  /** The client received the answer. */
  readonly delivered: boolean
  readonly reused: boolean
  readonly invalidGrant: boolean
}

interface LostAnswer {
  /** The refresh token presented. */
  readonly token: string
  /** How many requests the fake server had logged when the client gave the answer up. */
  readonly logIndex: number
}

const analyse = (
  server: FakeAuthorizationServer.FakeAuthorizationServer.Service,
  keys: ReadonlyArray<string>,
  signIns: ReadonlyMap<string, { readonly at: number; readonly logIndex: number }>,
  lost: ReadonlyArray<LostAnswer>
) =>
  Effect.gen(function*() {
    const requests = yield* server.requests
    const grants = yield* server.grants
    const owner = new Map<string, string>()
    for (const grant of grants) for (const token of grant.refreshTokens) owner.set(token, grant.user)
    const refreshes: Array<Refresh> = []
    requests.forEach((r, index) => {
      if (r.endpoint !== "token" || r.grantType !== "refresh_token") return
      const presented = r.refreshTokenPresented ?? ""
      refreshes.push({
        index,
        at: r.at,
        key: owner.get(presented) ?? "?",
        presented,
        committed: r.status === 200 && r.fault !== "MalformedBody" && r.fault !== "Status",
        delivered: r.delivered,
        reused: r.reusedRefreshToken,
        invalidGrant: r.error === "invalid_grant"
      })
    })
    const revoked = new Set(grants.filter((g) => g.revoked).map((g) => g.user))
    const signIn = (key: string) => signIns.get(key) ?? { at: 0, logIndex: 0 }
    /** A refresh of the key was committed but its answer lost: the stored refresh token is dead. */
    const poisoned = (key: string, before: number) =>
      refreshes.some((r) => r.key === key && r.index < before && r.committed && !r.delivered)
    /** A refresh of the key lost its answer, as the client saw it: its refresh token is possibly spent (S44). */
    const spent = (key: string, before: number) => lost.some((l) => owner.get(l.token) === key && l.logIndex <= before)
    /** When the client counts the refresh token it holds as expired: 30 days after its request was sent. */
    const refreshExpiry = (key: string, before: number) => {
      const issued = refreshes.filter((r) => r.key === key && r.index < before && r.committed && r.delivered)
      return (issued.at(-1)?.at ?? signIn(key).at) + refreshLifetime
    }
    /** The server answered invalid_grant to a refresh of the key. */
    const rejected = (key: string, before: number) =>
      refreshes.some((r) => r.key === key && r.index < before && r.invalidGrant)
    const stillAuthorized = (key: string, now: number, observations: ReadonlyArray<Observation>, mode: Mode) =>
      !poisoned(key, requests.length) && !spent(key, requests.length) && !revoked.has(key) &&
      now < refreshExpiry(key, requests.length) &&
      (mode.name === "strict" ||
        (!rejected(key, requests.length) && !observations.some((o) => o.key === key && isReauthorization(o.exit))))
    /** When the request that issued an access token was sent: the sign-in, or the n-th committed refresh. */
    const issuedAt = (key: string, token: string): number | undefined => {
      const n = grants.find((g) => g.user === key)?.accessTokens.indexOf(token) ?? -1
      if (n < 0) return undefined
      return n === 0 ? signIn(key).at : refreshes.filter((r) => r.key === key && r.committed)[n - 1]?.at
    }
    /** `token` is the key's newest access token when the log had `before` requests. */
    const newest = (key: string, token: string, before: number) => {
      const last = refreshes.filter((r) => r.key === key && r.committed && r.index < before).length
      return (grants.find((g) => g.user === key)?.accessTokens.indexOf(token) ?? -1) === last
    }
    return { refreshes, keys, signIn, poisoned, spent, newest, refreshExpiry, rejected, stillAuthorized, issuedAt }
  })

type View = Effect.Effect.Success<ReturnType<typeof analyse>>

const failureOf = (exit: Exit.Exit<string, AccessTokens.GetError>) =>
  Exit.isFailure(exit) ? Cause.failureOption(exit.cause) : Option.none()

const isReauthorization = (exit: Exit.Exit<string, AccessTokens.GetError>) =>
  Option.exists(failureOf(exit), (e) => e._tag === "ReauthorizationRequired")

// --- the invariants ---------------------------------------------------------------------------------

const check = (
  processes: number,
  view: View,
  observations: ReadonlyArray<Observation>,
  invalidations: ReadonlyArray<Invalidation>,
  mode: Mode
): Array<string> => {
  const violations: Array<string> = []
  const describe = (o: Observation) => `p${o.process} get ${o.key} at t=${Programs.duration(o.at)}`

  // 1. No rotated refresh token reaches the server, ever (S17, S20, S21, S44): not even after a lost
  //    answer, since the client never presents a possibly-spent refresh token again. (Not checked in
  //    the degraded property, where a lost lock lets another process read an old record.)
  if (mode.name === "strict") {
    for (const r of view.refreshes) {
      if (!r.reused) continue
      const dropped = view.refreshes.find((d) =>
        d.index < r.index && d.presented === r.presented && d.committed && !d.delivered
      )
      violations.push(
        `1 (no refresh token presented twice): request #${r.index} at t=${
          Programs.duration(r.at)
        } presented an already rotated refresh token of ${r.key}${
          dropped === undefined ? "" : `, rotated by the lost answer #${dropped.index}`
        }`
      )
    }
  }

  // 2. At most one refresh per key per expiry (S19, S20): two committed refreshes of a key (or the
  //    sign-in and a refresh) are at least one lifetime minus the refresh window apart, unless an
  //    invalidate of that key came in between (S25).
  for (const key of view.keys) {
    const issued = [
      { index: view.signIn(key).logIndex - 1, at: view.signIn(key).at },
      ...view.refreshes.filter((r) => r.key === key && r.committed)
    ]
    for (let i = 1; i < issued.length; i++) {
      const a = issued[i - 1]
      const b = issued[i]
      if (a === undefined || b === undefined) continue
      const forced = invalidations.some((v) => v.key === key && v.logIndex > a.index && v.logIndex <= b.index)
      if (!forced && b.at - a.at < accessLifetime - refreshWindow) {
        violations.push(
          `2 (one refresh per expiry): ${key} was refreshed at t=${Programs.duration(b.at)} (#${b.index}), only ${
            Programs.duration(b.at - a.at)
          } after its tokens were requested at t=${Programs.duration(a.at)}, with no invalidate in between`
        )
      }
    }
  }

  for (const o of observations) {
    const failure = failureOf(o.exit)
    if (Exit.isSuccess(o.exit)) {
      // 3. Every token handed out is the key's own and accepted by the server at that instant (S18,
      //    S19), with more than `minValidity` left (S24, S43), counted from when its request was sent. A token of a grant the server revoked because
      //    a dead token was presented after a lost answer (invariant 1's exception) cannot be known to
      //    be dead.
      const excused = o.grantRevoked && view.poisoned(o.key, o.logIndex)
      const token = o.exit.value
      const issued = view.issuedAt(o.key, token)
      if (!o.ownGrant || issued === undefined) {
        violations.push(`3 (valid token): ${describe(o)} returned a token of another grant`)
      } else if (!o.valid && !excused) {
        violations.push(`3 (valid token): ${describe(o)} returned a token the server does not accept`)
      } else if (
        o.at >= issued + accessLifetime - minValidity && !view.spent(o.key, o.logIndex) &&
        !(processes > 1 && view.newest(o.key, token, o.logIndex)) &&
        // With lost locks another process's mark makes a key look possibly spent for a while (S44).
        mode.name === "strict"
      ) {
        // A possibly-spent key serves its access token until it expires (S44), and a process adopts
        // the newest tokens another one stored while they are valid (S46); `valid` checks both.
        violations.push(
          `3 (valid token): ${describe(o)} returned a token requested at t=${
            Programs.duration(issued)
          }, valid for less than minValidity (S24, S43)`
        )
      }
      // 7. After `invalidate` of the token a process instance last handed out for a key, its next
      //    gets of that key never return that token again (S25).
      const rejected = invalidations.find((v) =>
        mode.name === "strict" && v.current && v.process === o.process && v.generation === o.generation &&
        v.key === o.key && v.step < o.step && v.token === token
      )
      if (rejected !== undefined) {
        violations.push(
          `7 (invalidate forces a refresh): ${describe(o)} returned the token invalidated at step ${rejected.step + 1}`
        )
      }
    } else if (Option.isSome(failure) && failure.value._tag === "ReauthorizationRequired") {
      // 4. Re-authorization only when the refresh token is truly expired (S24) or dead at the server:
      //    rotated by a lost answer, or its grant revoked (S21, S22). In the degraded property also
      //    after the server rejected a refresh of the key, or once 30 days passed since the sign-in
      //    (a process may judge by an older stored refresh token than the newest one).
      const error = failure.value as OAuthError.ReauthorizationRequired
      const legitimate = view.poisoned(o.key, o.logIndex) || o.grantRevoked ||
        (error.reason === "refresh-outcome-unknown" && view.spent(o.key, o.logIndex)) ||
        // With lost locks, the possibly-spent mark of another process's refresh in flight cannot be
        // told from the mark of a holder that died (S44).
        (error.reason === "refresh-outcome-unknown" && mode.name === "degraded") ||
        (mode.name === "strict"
          ? o.at >= view.refreshExpiry(o.key, o.logIndex)
          : view.rejected(o.key, o.logIndex) || o.at >= view.signIn(o.key).at + refreshLifetime)
      if (!legitimate) {
        violations.push(
          `4 (re-authorization only when needed): ${
            describe(o)
          } failed with ReauthorizationRequired(${error.reason}) while its refresh token is valid (client-side expiry t=${
            Programs.duration(view.refreshExpiry(o.key, o.logIndex))
          })`
        )
      } else if (o.final && mode.name === "strict") {
        // 5. After the faults are healed, every still-authorized key can be used in every process. In
        //    the degraded property a process may hold the only copy of new tokens it could not store,
        //    so another process's final get may end in a re-authorization after a real rejection.
        violations.push(`5 (recovery): the final ${describe(o)} failed with ReauthorizationRequired(${error.reason})`)
      }
    } else if (o.final) {
      violations.push(`5 (recovery): the final ${describe(o)} failed: ${Cause.pretty(o.exit.cause).split("\n")[0]}`)
    } else if (Option.isSome(failure)) {
      // 6. Any other failure is typed and explained by a fault injected before it.
      const tag = failure.value._tag as keyof typeof explains
      if (!explains[tag].some((kind) => o.injected.has(kind))) {
        violations.push(`6 (typed errors explained by faults): ${describe(o)} failed with ${tag}`)
      }
    } else if (!(Cause.isInterruptedOnly(o.exit.cause) && o.shutDown)) {
      // A get of a process instance that is shutting down may be interrupted, nothing else.
      violations.push(`6 (no defects): ${describe(o)} died: ${Cause.pretty(o.exit.cause)}`)
    }
  }
  return violations
}

// --- the properties -----------------------------------------------------------------------------------

describe("AccessTokens token lifecycle", () => {
  it.effect.prop(
    "random programs never send a rotated refresh token, refresh once per expiry, hand out valid tokens, re-authorize only when needed, and recover (S17–S25)",
    {
      program: Programs.program({ processes: { min: 1, max: 3 }, boundWriteFailures: true, loseLocks: false })
    },
    ({ program }) => runProgram(program, strict),
    { timeout: 600_000, fastCheck: { numRuns: 200 } }
  )

  it.effect.prop(
    "with lost locks and unbounded write failures, tokens handed out stay valid, re-authorization follows a real rejection, and nothing hangs (S18, S20, S21)",
    {
      program: Programs.program({ processes: { min: 2, max: 3 }, boundWriteFailures: false, loseLocks: true })
    },
    ({ program }) => runProgram(program, degraded),
    { timeout: 600_000, fastCheck: { numRuns: 100 } }
  )

  describe("counterexamples found by the strict property", () => {
    for (const { name, program } of Programs.counterexamples) {
      it.effect(name, () => runProgram(program, strict))
    }
  })
})
