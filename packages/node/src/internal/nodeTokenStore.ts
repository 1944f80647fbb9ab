import { TokenStoreError, VersionConflict } from "@effect-oauth/core/OAuthError"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import type * as PlatformError from "@effect/platform/Error"
import * as FileSystem from "@effect/platform/FileSystem"
import * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as ExecutionStrategy from "effect/ExecutionStrategy"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Scope from "effect/Scope"
import { homedir } from "node:os"
import type { Options } from "../NodeTokenStore.js"
import * as LockFile from "./lockFile.js"
import * as TokenFile from "./tokenFile.js"
import * as Wakeups from "./wakeups.js"

type Operation = TokenStoreError["operation"]

const expandHome = (file: string): string =>
  file === "~" || file.startsWith("~/") || file.startsWith("~\\") ? homedir() + file.slice(1) : file

const clamp = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value))

/** The default of `maxLease`: the largest lease the library grants (S42). */
export const defaultMaxLease = Duration.minutes(10)

/** The store; see the public module for the design. */
export const make = (
  options: Options
): Effect.Effect<TokenStore.Service, never, FileSystem.FileSystem | Path.Path | Scope.Scope> =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const storeScope = yield* Effect.scope
    const file = path.resolve(expandHome(options.path))
    const directory = path.dirname(file)
    // Infinite durations are clamped: a lease must survive JSON, and a poll must come back.
    const pollMillis = clamp(Duration.toMillis(options.pollInterval ?? Duration.millis(50)), 1, 60_000)
    const maxLeaseMillis = clamp(Duration.toMillis(options.maxLease ?? defaultMaxLease), 100, 86_400_000)
    const maxBytes = options.maxFileSize ?? 64 * 1024 * 1024
    const identity = yield* LockFile.makeIdentity(fs)
    const uid = typeof process.getuid === "function" ? process.getuid() : undefined
    const mutex = LockFile.make(fs, path, {
      lockPath: `${file}.lock`,
      leaseMillis: clamp(Duration.toMillis(options.mutexLease ?? Duration.seconds(10)), 100, maxLeaseMillis),
      pollMillis,
      identity,
      maxLeaseMillis
    })
    const leaseStaleness = LockFile.makeStaleness(maxLeaseMillis)
    // The fibers of this store take the file mutex one at a time, so they never poll for each other.
    const permits = yield* Effect.makeSemaphore(1)
    const locks = yield* TokenStore.makeLockTable
    // A waiter renews its ticket every third of this while it waits; a dead one's lapses (S47).
    const ticketLeaseMillis = Math.min(1500, maxLeaseMillis)
    const wakeups = Wakeups.make(fs, { directory, name: path.basename(file), storeScope })
    yield* TokenFile.removeStaleTemps(
      fs,
      path,
      file,
      yield* Clock.currentTimeMillis,
      Duration.toMillis(options.staleTempAge ?? Duration.minutes(10))
    )

    const unavailable = (operation: Operation, key: string) => (error: PlatformError.PlatformError) =>
      new TokenStoreError({ operation, reason: "Unavailable", key, detail: error.message })

    /**
     * S41: the token file and its directory must be this user's own, not symbolic links, and not
     * writable by group or others; otherwise nothing is read or written. Missing ones are fine (they
     * are created 0700 and 0600).
     */
    const checkSafe = (operation: Operation, key: string): Effect.Effect<void, TokenStoreError> =>
      Effect.forEach([[directory, "Directory"], [file, "File"]] as const, ([target, type]) =>
        TokenFile.unsafeReason(fs, target, type, uid).pipe(
          Effect.flatMap((why) =>
            why === undefined ? Effect.void : Effect.fail(
              new TokenStoreError({
                operation,
                reason: "Unavailable",
                key,
                detail: `${target} ${why}, so the token store refuses it; ` +
                  "make it a regular file or directory of this user, mode 0600 (file) or 0700 (directory)"
              })
            )
          ),
          Effect.catchTags({
            SystemError: (error) =>
              unavailable(operation, key)(error),
            BadArgument: (error) => unavailable(operation, key)(error)
          })
        ), { discard: true })

    const readDocument = (operation: Operation, key: string) =>
      Effect.zipRight(checkSafe(operation, key), TokenFile.read(fs, file, maxBytes)).pipe(
        Effect.catchTags({
          CorruptDocument: (error) =>
            new TokenStoreError({
              operation,
              reason: "Corrupt",
              key,
              detail: `${file} is not a usable token file: ${error.why}. It was kept as it is; ` +
                "move it away or remove it to start over"
            }),
          SystemError: (error) =>
            unavailable(operation, key)(error),
          BadArgument: (error) =>
            unavailable(operation, key)(error)
        })
      )

    const write = (
      document: TokenFile.Document,
      operation: Operation,
      key: string,
      commit: Effect.Effect<void, TokenStoreError>
    ) =>
      TokenFile.replace(fs, path, file, TokenFile.toText(document), Effect.zipRight(checkSafe(operation, key), commit))
        .pipe(
          Effect.catchTags({
            SystemError: (error) => unavailable(operation, key)(error),
            BadArgument: (error) => unavailable(operation, key)(error)
          })
        )

    /**
     * Runs `body` under the file mutex, uninterruptibly once the mutex is taken: a write is never
     * cut in half by an interruption, and the mutex is always released. `commit` is the check the
     * body's write makes right before its rename.
     */
    const withMutex = <A, E>(
      operation: Operation,
      key: string,
      body: (commit: Effect.Effect<void, TokenStoreError>) => Effect.Effect<A, E>
    ): Effect.Effect<A, E | TokenStoreError> =>
      permits.withPermits(1)(
        Effect.uninterruptibleMask((restore) =>
          Effect.flatMap(
            Effect.mapError(mutex.acquire(restore), unavailable(operation, key)),
            (holder) =>
              Effect.ensuring(
                body(
                  mutex.check(holder).pipe(
                    Effect.catchTags({
                      MutexLost: (error) =>
                        new TokenStoreError({ operation, reason: "LockLost", key, detail: error.why }),
                      SystemError: (error) => unavailable(operation, key)(error),
                      BadArgument: (error) => unavailable(operation, key)(error)
                    })
                  )
                ),
                mutex.release(holder)
              )
          )
        )
      )

    const checkVersion = (
      document: TokenFile.Document,
      key: string,
      options: TokenStore.WriteOptions | undefined
    ): Effect.Effect<void, VersionConflict> => {
      const expected = options?.expectedVersion
      const actual = document.records.get(key)?.version ?? null
      return expected === undefined || expected === actual
        ? Effect.void
        : Effect.fail(new VersionConflict({ key, expected, actual }))
    }

    /** When a lease stops counting: its end, but at most `maxLease` after it was first seen (S42). */
    const leaseEnd = (lease: TokenFile.Lease, now: number) =>
      leaseStaleness.expiresAt(`${lease.fence} ${lease.pid} ${lease.host}`, lease.expiresAt, now)

    /** The leases that have not run out. */
    const liveLeases = (leases: ReadonlyMap<string, TokenFile.Lease>, now: number) =>
      new Map([...leases].filter(([, lease]) => leaseEnd(lease, now) > now))

    /** When a ticket stops counting: its end, but at most `maxLease` after it was first seen (S42). */
    const ticketEnd = (number: string, ticket: TokenFile.Ticket, now: number) =>
      leaseStaleness.expiresAt(`ticket ${number} ${ticket.pid} ${ticket.host}`, ticket.expiresAt, now)

    /** The tickets that have not run out. */
    const live = (document: TokenFile.Document, now: number) =>
      new Map([...document.waiters].filter(([number, ticket]) => ticketEnd(number, ticket, now) > now))

    /**
     * Whether a live ticket of `key` is before `mine` (before any, when this waiter has none yet): a
     * waiter of another process or store arrived first (S47). Tickets of dead processes of this host
     * count for nothing.
     */
    const ahead = (document: Option.Option<TokenFile.Document>, key: string, mine: number | undefined, now: number) =>
      Effect.gen(function*() {
        if (Option.isNone(document)) return false
        for (const [number, ticket] of document.value.waiters) {
          if (ticket.key !== key || (mine !== undefined && Number(number) >= mine)) continue
          if (ticketEnd(number, ticket, now) <= now) continue
          if (!(yield* LockFile.isDead(identity, ticket))) return true
        }
        return false
      })

    /** Until when someone holds the key's lock; `undefined` when no one does. */
    const heldUntil = (document: Option.Option<TokenFile.Document>, key: string, now: number) => {
      const lease = Option.getOrUndefined(document)?.leases.get(key)
      if (lease === undefined || leaseEnd(lease, now) <= now) return Effect.succeed(undefined)
      return Effect.map(LockFile.isDead(identity, lease), (dead) => dead ? undefined : lease.expiresAt)
    }

    const get = Effect.fn("NodeTokenStore.get")(function*(key: string) {
      const document = yield* readDocument("get", key)
      const entry = Option.getOrUndefined(document)?.records.get(key)
      if (entry === undefined) return Option.none<TokenStore.RawRecord>()
      return Option.some<TokenStore.RawRecord>({ text: entry.record, version: entry.version })
    })

    const set = Effect.fn("NodeTokenStore.set")(
      function*(key: string, record: string, options?: TokenStore.WriteOptions) {
        return yield* withMutex("set", key, (commit) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const document = Option.getOrElse(yield* readDocument("set", key), () => TokenFile.empty(now))
            yield* checkVersion(document, key, options)
            const version = document.sequence + 1
            const records = new Map(document.records).set(key, { version, record })
            yield* write(
              { sequence: version, records, leases: liveLeases(document.leases, now), waiters: live(document, now) },
              "set",
              key,
              commit
            )
            return version
          }))
      }
    )

    const remove = Effect.fn("NodeTokenStore.remove")(function*(key: string, options?: TokenStore.WriteOptions) {
      return yield* withMutex("remove", key, (commit) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const document = Option.getOrElse(yield* readDocument("remove", key), () => TokenFile.empty(now))
          yield* checkVersion(document, key, options)
          if (!document.records.has(key)) return false
          const records = new Map(document.records)
          records.delete(key)
          yield* write(
            {
              sequence: document.sequence,
              records,
              leases: liveLeases(document.leases, now),
              waiters: live(document, now)
            },
            "remove",
            key,
            commit
          )
          return true
        }))
    })

    /** Frees the key's lease if it is still the one with this fence. */
    const releaseOnce = (key: string, fence: number): Effect.Effect<void, TokenStoreError> =>
      Effect.gen(function*() {
        const peek = yield* readDocument("lock", key)
        if (Option.getOrUndefined(peek)?.leases.get(key)?.fence !== fence) return
        yield* withMutex("lock", key, (commit) =>
          Effect.gen(function*() {
            const now = yield* Clock.currentTimeMillis
            const document = yield* readDocument("lock", key)
            if (Option.isNone(document) || document.value.leases.get(key)?.fence !== fence) return
            const leases = liveLeases(document.value.leases, now)
            leases.delete(key)
            yield* write({ ...document.value, leases }, "lock", key, commit)
          }))
        yield* wakeups.wake
      })

    /**
     * Releases at once (S45); a failed release is retried in the background, within the store's
     * lifetime, until it succeeds or the lease has run out anyway.
     */
    const releaseLease = (key: string, fence: number, expiresAt: () => number): Effect.Effect<void> =>
      releaseOnce(key, fence).pipe(
        Effect.catchAll(() =>
          Effect.asVoid(Effect.forkIn(
            Effect.interruptible(releaseOnce(key, fence)).pipe(
              Effect.retry({
                schedule: LockFile.pollSchedule(10, 1000),
                until: () => Effect.map(Clock.currentTimeMillis, (now) => now >= expiresAt())
              }),
              Effect.ignore
            ),
            storeScope
          ))
        )
      )

    /** Moves the lease's end to `now + leaseMillis` if it is still ours; `false` when it is not. */
    const renewOnce = (key: string, fence: number, leaseMillis: number) =>
      withMutex("lock", key, (commit) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const document = yield* readDocument("lock", key)
          const lease = Option.getOrUndefined(document)?.leases.get(key)
          if (Option.isNone(document) || lease === undefined || lease.fence !== fence) return undefined
          const expiresAt = Math.min(now + leaseMillis, Number.MAX_SAFE_INTEGER)
          const leases = liveLeases(document.value.leases, now).set(key, { ...lease, expiresAt })
          yield* write({ ...document.value, leases }, "lock", key, commit)
          return expiresAt
        }))

    /**
     * Renews the lease every third of it while the lock's scope is open (S45); a failed renewal is
     * retried at the next round. Stops when the lease is no longer ours.
     */
    const renewing = (key: string, fence: number, leaseMillis: number, onRenew: (expiresAt: number) => void) =>
      Effect.gen(function*() {
        while (true) {
          yield* Effect.sleep(Duration.millis(Math.max(1, Math.floor(leaseMillis / 3))))
          const renewed = yield* Effect.either(renewOnce(key, fence, leaseMillis))
          if (renewed._tag === "Right") {
            if (renewed.right === undefined) return
            onRenew(renewed.right)
          }
        }
      })

    /**
     * Takes the key's lease if it is free and no earlier waiter is in line; `undefined` otherwise. The
     * waiter's ticket, if it has one, leaves the line in the same write.
     */
    const takeLease = (
      key: string,
      leaseMillis: number,
      renew: boolean,
      held: Scope.Scope,
      ticket: number | undefined,
      commit: Effect.Effect<void, TokenStoreError>
    ) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const document = Option.getOrElse(yield* readDocument("lock", key), () => TokenFile.empty(now))
        if ((yield* heldUntil(Option.some(document), key, now)) !== undefined) return undefined
        if (yield* ahead(Option.some(document), key, ticket, now)) return undefined
        const fence = document.sequence + 1
        const expiresAt = Math.min(now + leaseMillis, Number.MAX_SAFE_INTEGER)
        const leases = liveLeases(document.leases, now).set(key, {
          fence,
          expiresAt,
          pid: identity.pid,
          host: identity.host
        })
        const waiters = live(document, now)
        if (ticket !== undefined) waiters.delete(String(ticket))
        yield* write({ sequence: fence, records: document.records, leases, waiters }, "lock", key, commit)
        // Still under the mutex's uninterruptible region: the lease is never taken without its release,
        // and its renewal stops before the release runs.
        let end = expiresAt
        yield* Scope.addFinalizer(held, releaseLease(key, fence, () => end))
        if (renew) {
          // Forked from an uninterruptible region: made interruptible, or closing the lock would hang.
          const renewal = yield* Effect.forkIn(
            Effect.interruptible(renewing(key, fence, leaseMillis, (expiresAt) => void (end = expiresAt))),
            storeScope
          )
          yield* Scope.addFinalizer(held, Fiber.interrupt(renewal))
        }
        const lock: TokenStore.Lock = { key, fence, expiresAt }
        return lock
      })

    /** Joins the key's waiting line: a ticket numbered from `sequence`, renewed while it waits. */
    const takeTicket = (key: string) =>
      withMutex("lock", key, (commit) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const document = Option.getOrElse(yield* readDocument("lock", key), () => TokenFile.empty(now))
          const ticket = document.sequence + 1
          const waiters = live(document, now).set(String(ticket), {
            key,
            expiresAt: now + ticketLeaseMillis,
            pid: identity.pid,
            host: identity.host
          })
          yield* write(
            { ...document, sequence: ticket, leases: liveLeases(document.leases, now), waiters },
            "lock",
            key,
            commit
          )
          return ticket
        }))

    /** Renews the ticket while it is in line; `false` once it is not (taken, or lapsed). */
    const renewTicket = (key: string, ticket: number) =>
      withMutex("lock", key, (commit) =>
        Effect.gen(function*() {
          const now = yield* Clock.currentTimeMillis
          const document = yield* readDocument("lock", key)
          const current = Option.getOrUndefined(document)?.waiters.get(String(ticket))
          if (Option.isNone(document) || current === undefined) return false
          const waiters = live(document.value, now).set(String(ticket), {
            ...current,
            expiresAt: now + ticketLeaseMillis
          })
          yield* write({ ...document.value, waiters }, "lock", key, commit)
          return true
        }))

    /** Leaves the line (a waiter that was interrupted or failed). */
    const dropTicket = (key: string, ticket: number) =>
      Effect.gen(function*() {
        if (!Option.getOrUndefined(yield* readDocument("lock", key))?.waiters.has(String(ticket))) return
        yield* withMutex("lock", key, (commit) =>
          Effect.gen(function*() {
            const document = yield* readDocument("lock", key)
            if (Option.isNone(document) || !document.value.waiters.has(String(ticket))) return
            const waiters = new Map(document.value.waiters)
            waiters.delete(String(ticket))
            yield* write({ ...document.value, waiters }, "lock", key, commit)
          }))
      })

    /** The wait before the next look: jittered, doubling from 5 ms up to the poll interval. */
    const backoff = (round: number) =>
      Effect.map(Random.nextRange(0.8, 1.2), (jitter) => Math.min(pollMillis, 5 * 2 ** Math.min(round, 20)) * jitter)

    const acquireLease = (key: string, leaseMillis: number, renew: boolean, held: Scope.Scope) =>
      Effect.gen(function*() {
        // Fibers of this store queue in memory and are handed the key at once on release; only the
        // one in front stands in the key's waiting line in the file, for other stores and processes.
        yield* Scope.extend(locks.acquire(key, renew ? Duration.infinity : Duration.millis(leaseMillis)), held)
        return yield* Effect.scoped(Effect.gen(function*() {
          let ticket: number | undefined = undefined
          let round = 0
          while (true) {
            const seen = yield* wakeups.seen
            const now = yield* Clock.currentTimeMillis
            const document = yield* readDocument("lock", key)
            const free = (yield* heldUntil(document, key, now)) === undefined &&
              !(yield* ahead(document, key, ticket, now))
            const lock = free
              ? yield* withMutex("lock", key, (commit) => takeLease(key, leaseMillis, renew, held, ticket, commit))
              : undefined
            if (lock !== undefined) return lock
            if (ticket === undefined) {
              // Busy: take a place in line, held until the lock is taken or the wait ends.
              yield* wakeups.watching
              const number = yield* Effect.uninterruptible(
                Effect.tap(
                  takeTicket(key),
                  (number) => Effect.addFinalizer(() => Effect.ignore(dropTicket(key, number)))
                )
              )
              ticket = number
              // A failed renewal is tried again next round; a ticket no longer in line is not put back.
              yield* Effect.forkScoped(Effect.interruptible(
                Effect.repeat(
                  Effect.zipRight(
                    Effect.sleep(Duration.millis(Math.floor(ticketLeaseMillis / 3))),
                    Effect.orElseSucceed(renewTicket(key, number), () => true)
                  ),
                  { while: (inLine) => inLine }
                )
              ))
              continue
            }
            yield* wakeups.pause(seen, yield* backoff(round++))
          }
        }))
      })

    const lock = Effect.fn("NodeTokenStore.lock")(
      function*(key: string, options: TokenStore.LockOptions) {
        // Leases are at most `maxLease` (S42); a holder keeps a lock longer by renewing it.
        const leaseMillis = clamp(Math.ceil(Duration.toMillis(options.lease)), 3, maxLeaseMillis)
        const held = yield* Scope.fork(yield* Effect.scope, ExecutionStrategy.sequential)
        return yield* acquireLease(key, leaseMillis, options.renew === true, held).pipe(
          Effect.onExit((exit) => Exit.isSuccess(exit) ? Effect.void : Scope.close(held, exit))
        )
      }
    )

    const backend: TokenStore.Backend = { get, set, remove, lock }
    return TokenStore.make(backend)
  })
