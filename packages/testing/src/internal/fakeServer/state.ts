/**
 * The fake server's state: records of codes, grants and tokens, copied at the start of every
 * transaction; the context every endpoint shares (options, clients, log, fault queue); response helpers.
 *
 * @internal
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import * as SynchronizedRef from "effect/SynchronizedRef"
import type { Client, ClientAuthMethod, Options } from "../../FakeAuthorizationServer.js"
import type { Fault } from "../../FakeAuthorizationServerFault.js"
import type { LoggedRequest } from "../../FakeAuthorizationServerLog.js"
import type { Endpoints } from "../../FakeAuthorizationServerMetadata.js"
import type * as internal from "../fakeAuthorizationServer.js"

export interface CodeRecord {
  readonly clientId: string
  readonly redirectUri: string
  readonly scope: ReadonlyArray<string>
  readonly user: string
  readonly codeChallenge: string | undefined
  readonly expiresAt: number
  readonly grantId: string | undefined
}

export interface GrantRecord {
  readonly id: string
  readonly clientId: string
  readonly user: string
  readonly scope: ReadonlyArray<string>
  readonly createdAt: number
  readonly revokedAt: number | undefined
  readonly refreshToken: string | undefined
  readonly accessTokens: ReadonlyArray<string>
  readonly refreshTokens: ReadonlyArray<string>
}

export interface AccessTokenRecord {
  readonly grantId: string
  readonly clientId: string
  readonly user: string
  readonly expiresAt: number
  readonly revokedAt: number | undefined
}

export interface IssuedTokens {
  readonly accessToken: string
  readonly refreshToken: string | undefined
  readonly scope: ReadonlyArray<string>
}

export interface RefreshTokenRecord {
  readonly grantId: string
  readonly clientId: string
  readonly expiresAt: number
  readonly revokedAt: number | undefined
  readonly rotatedAt: number | undefined
  readonly successor: IssuedTokens | undefined
}

export interface Job {
  readonly jobId: string
  readonly user: string
  readonly clientId: string
  readonly message: string
}

/** Maps are copied at the start of every transaction and mutated only inside it. */
export interface State {
  readonly codes: Map<string, CodeRecord>
  readonly grants: Map<string, GrantRecord>
  readonly accessTokens: Map<string, AccessTokenRecord>
  readonly refreshTokens: Map<string, RefreshTokenRecord>
  readonly jobs: Map<string, Job>
}

export const emptyState = (): State => ({
  codes: new Map(),
  grants: new Map(),
  accessTokens: new Map(),
  refreshTokens: new Map(),
  jobs: new Map()
})

export const cloneState = (state: State): State => ({
  codes: new Map(state.codes),
  grants: new Map(state.grants),
  accessTokens: new Map(state.accessTokens),
  refreshTokens: new Map(state.refreshTokens),
  jobs: new Map(state.jobs)
})

export interface Outcome {
  readonly status: number
  readonly body: string
  readonly headers: Readonly<Record<string, string>>
  readonly error?: string | undefined
  readonly clientId?: string | undefined
  readonly clientAuth?: ClientAuthMethod | undefined
  readonly reused?: boolean | undefined
  readonly grace?: boolean | undefined
}

export interface Incoming {
  readonly method: string
  readonly url: URL
  readonly headers: Readonly<Record<string, string>>
  readonly bodyText: string | undefined
  readonly isForm: boolean
  readonly form: internal.ParsedForm
}

export interface HandlingContext {
  readonly tokenSize: number | undefined
  readonly extras: Readonly<Record<string, unknown>>
}

export interface QueuedFault {
  readonly fault: Fault
  readonly remaining: number
}

export const noStore = { "cache-control": "no-store", pragma: "no-cache" }
export const jsonHeaders = { "content-type": "application/json", ...noStore }

export const json = (status: number, body: unknown, headers?: Readonly<Record<string, string>>): Outcome => ({
  status,
  body: JSON.stringify(body),
  headers: { ...jsonHeaders, ...headers }
})

export const oauthError = (
  status: number,
  error: string,
  description: string,
  headers?: Readonly<Record<string, string>>
): Outcome => ({ ...json(status, { error, error_description: description }, headers), error })

export const nullBodyStatuses = new Set([101, 204, 205, 304])

/** What every endpoint of one server shares. */
export interface ServerContext {
  readonly opts: Options
  readonly urls: Endpoints
  readonly clients: ReadonlyMap<string, Client>
  readonly codeMillis: number
  readonly accessMillis: number
  readonly refreshMillis: number
  readonly graceMillis: number
  readonly stateRef: SynchronizedRef.SynchronizedRef<State>
  readonly logRef: Ref.Ref<ReadonlyArray<LoggedRequest>>
  readonly faultsRef: Ref.Ref<ReadonlyArray<QueuedFault>>
  readonly log: (entry: LoggedRequest) => Effect.Effect<void>
  /** Serialized and uninterruptible, like a server that commits whatever happens to the connection. */
  readonly transact: <A>(f: (tx: State, now: number) => Effect.Effect<A>) => Effect.Effect<A>
  readonly read: <A>(f: (state: State, now: number) => A) => Effect.Effect<A>
}

export const makeContext = (opts: Options, urls: Endpoints): Effect.Effect<ServerContext> =>
  Effect.gen(function*() {
    const stateRef = yield* SynchronizedRef.make(emptyState())
    const logRef = yield* Ref.make<ReadonlyArray<LoggedRequest>>([])
    const faultsRef = yield* Ref.make<ReadonlyArray<QueuedFault>>([])
    const transact = <A>(f: (tx: State, now: number) => Effect.Effect<A>): Effect.Effect<A> =>
      Effect.uninterruptible(SynchronizedRef.modifyEffect(stateRef, (state) => {
        const tx = cloneState(state)
        return Effect.flatMap(
          Clock.currentTimeMillis,
          (now) => Effect.map(f(tx, now), (result) => [result, tx] as const)
        )
      }))
    const read = <A>(f: (state: State, now: number) => A): Effect.Effect<A> =>
      Effect.flatMap(
        SynchronizedRef.get(stateRef),
        (state) => Effect.map(Clock.currentTimeMillis, (now) => f(state, now))
      )
    return {
      opts,
      urls,
      clients: new Map(opts.clients.map((client) => [client.clientId, client] as const)),
      codeMillis: Duration.toMillis(opts.codeLifetime),
      accessMillis: Duration.toMillis(opts.accessTokenLifetime),
      refreshMillis: Duration.toMillis(opts.refreshTokenLifetime),
      graceMillis: Duration.toMillis(opts.refreshGraceWindow),
      stateRef,
      logRef,
      faultsRef,
      log: (entry) => Ref.update(logRef, (entries) => [...entries, entry]),
      transact,
      read
    }
  })
