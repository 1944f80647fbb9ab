/**
 * The file mutex of `NodeTokenStore`: a lock file next to the token file, held for the few
 * milliseconds of each read-modify-write of the token file, with a lease so that a holder that died
 * never blocks the others for long (SPEC S20).
 */
import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Clock from "effect/Clock"
import * as Data from "effect/Data"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Ref from "effect/Ref"
import * as Schedule from "effect/Schedule"
import { randomBytes } from "node:crypto"
import { hostname } from "node:os"
import * as TokenFile from "./tokenFile.js"

/**
 * Who this process is. `host` is the host name plus, on Linux, the pid namespace, so that processes
 * in two containers with the same host name never judge each other's pids.
 */
export interface Identity {
  readonly pid: number
  readonly host: string
}

/** The identity of this process. */
export const makeIdentity = (fs: FileSystem.FileSystem): Effect.Effect<Identity> =>
  fs.readLink("/proc/self/ns/pid").pipe(
    Effect.option,
    Effect.map((namespace) => ({
      pid: process.pid,
      host: Option.match(namespace, { onNone: () => hostname(), onSome: (ns) => `${hostname()} ${ns}` })
    }))
  )

/**
 * The waits between two looks at a held lock: exponential from `firstMillis`, jittered, and never
 * longer than `pollMillis`.
 */
export const pollSchedule = (firstMillis: number, pollMillis: number): Schedule.Schedule<unknown> =>
  Schedule.exponential(Duration.millis(Math.min(firstMillis, pollMillis))).pipe(
    Schedule.jittered,
    Schedule.union(Schedule.spaced(Duration.millis(pollMillis)))
  )

/**
 * When a lock record stops counting, as seen by a waiter (SPEC S42): at the end of its lease, but
 * never later than the largest lease this library grants after the waiter first saw that exact record
 * (same holder, same lease end). A record written by another host with a ten-year lease, after a clock
 * jump, or by a corrupt writer therefore blocks no one for longer than `maxLeaseMillis`; a live holder
 * renews its lease (a new end) well within it. Forgets records it has not been asked about for a while.
 */
export interface Staleness {
  readonly expiresAt: (identity: string, leaseEnd: number, now: number) => number
}

/** A `Staleness` for leases of at most `maxLeaseMillis`. */
export const makeStaleness = (maxLeaseMillis: number): Staleness => {
  const firstSeen = new Map<string, { readonly at: number; last: number }>()
  return {
    expiresAt: (identity, leaseEnd, now) => {
      if (leaseEnd - now <= maxLeaseMillis) return leaseEnd
      const id = `${identity}\u0000${leaseEnd}`
      let seen = firstSeen.get(id)
      if (seen === undefined) {
        if (firstSeen.size > 1000) {
          for (const [other, entry] of firstSeen) if (now - entry.last > maxLeaseMillis) firstSeen.delete(other)
        }
        seen = { at: now, last: now }
        firstSeen.set(id, seen)
      }
      seen.last = now
      return Math.min(leaseEnd, seen.at + maxLeaseMillis)
    }
  }
}

/** Whether a process with this pid exists on this host (`EPERM`: it exists but is not ours). */
export const isAlive = (pid: number): Effect.Effect<boolean> =>
  Effect.try(() => process.kill(pid, 0)).pipe(
    Effect.as(true),
    Effect.catchAll((error) =>
      Effect.succeed(Predicate.hasProperty(error.error, "code") && error.error.code === "EPERM")
    )
  )

/** Whether `owner` is a process of this host, other than this one, that no longer exists. */
export const isDead = (
  self: Identity,
  owner: { readonly pid: number; readonly host: string }
): Effect.Effect<boolean> =>
  owner.host === self.host && owner.pid !== self.pid && Number.isSafeInteger(owner.pid) && owner.pid > 0
    ? Effect.map(isAlive(owner.pid), (alive) => !alive)
    : Effect.succeed(false)

/** A held mutex: the exact content of the lock file we created, and when its lease runs out. */
export interface Holder {
  readonly raw: string
  readonly expiresAt: number
}

/** The lock file is held by someone else: try again later. */
export class Busy extends Data.TaggedError("Busy")<{}> {}

/** The mutex was taken over (its lease ran out) before the work under it could commit. */
export class MutexLost extends Data.TaggedError("MutexLost")<{ readonly why: string }> {}

interface Owner {
  readonly pid: number
  readonly host: string
  readonly id: string
  readonly expiresAt: number
}

const parseOwner = (raw: string): Owner | undefined => {
  const json = Option.getOrUndefined(Option.liftThrowable((text: string): unknown => JSON.parse(text))(raw))
  return Predicate.isRecord(json) && Number.isSafeInteger(json.pid) && typeof json.host === "string" &&
      typeof json.id === "string" && typeof json.expiresAt === "number" && Number.isFinite(json.expiresAt)
    ? { pid: json.pid as number, host: json.host, id: json.id, expiresAt: json.expiresAt }
    : undefined
}

const isNotFound = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "NotFound"

const isAlreadyExists = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "AlreadyExists"

/** The mutex of one lock file. */
export interface Mutex {
  /**
   * Waits for the mutex and takes it. Call it uninterruptible: the waits between attempts run
   * through `restore`, so a waiter can be interrupted, but taking the lock cannot be cut in half.
   */
  readonly acquire: (
    restore: <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  ) => Effect.Effect<Holder, PlatformError.PlatformError>
  /** Removes the lock file if it is still ours. Best effort: a lost release only costs the lease. */
  readonly release: (holder: Holder) => Effect.Effect<void>
  /**
   * Fails with `MutexLost` unless the lock file is still ours and its lease has a safety margin
   * left: the last check before a write commits.
   */
  readonly check: (holder: Holder) => Effect.Effect<void, MutexLost | PlatformError.PlatformError>
}

/**
 * A mutex on `lockPath`. The lock file holds `{ pid, host, id, expiresAt }` and appears whole: it is
 * written to a fresh temp file (`O_EXCL`, 0600) that is then hard-linked to `lockPath`, which fails
 * if the lock file exists, so no one ever reads a half-written lock file. A lock file is stale when
 * its lease ran out or its owner is a dead process of this host; a stale one is removed by renaming
 * it aside and checking that what was moved is what was judged stale (see `removeIf`).
 */
export const make = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  options: {
    readonly lockPath: string
    readonly leaseMillis: number
    readonly pollMillis: number
    readonly identity: Identity
    /** The largest lease this library grants (S42): no lock file blocks longer than this. */
    readonly maxLeaseMillis: number
  }
): Mutex => {
  const { identity, lockPath, maxLeaseMillis, pollMillis } = options
  const leaseMillis = Math.min(options.leaseMillis, maxLeaseMillis)
  const margin = Math.min(1000, leaseMillis / 4)
  const staleness = makeStaleness(maxLeaseMillis)
  const schedule = pollSchedule(2, pollMillis)

  const readLock: Effect.Effect<Option.Option<string>, PlatformError.PlatformError> = fs.readFileString(lockPath).pipe(
    Effect.map(Option.some),
    Effect.catchIf(isNotFound, () => Effect.succeed(Option.none()))
  )

  /**
   * Removes the lock file if its content is still `raw`. Two processes may judge the same lock
   * stale: the lock file is renamed to a private name (only one rename of it succeeds) and what was
   * moved is compared with `raw`. When it differs, the stale lock had already been replaced by a new
   * holder's, which is put back with `link` (which never overwrites); only if a third process
   * created a lock file in the microseconds between would the new holder lose the mutex, and its
   * `check` before committing then refuses the write.
   */
  const removeIf = (raw: string): Effect.Effect<void, PlatformError.PlatformError> =>
    Effect.gen(function*() {
      const aside = yield* TokenFile.tempPath(path, lockPath)
      const moved = yield* fs.rename(lockPath, aside).pipe(
        Effect.as(true),
        Effect.catchIf(isNotFound, () => Effect.succeed(false))
      )
      if (!moved) return
      const content = yield* Effect.option(fs.readFileString(aside))
      if (Option.isNone(content) || content.value !== raw) yield* Effect.ignore(fs.link(aside, lockPath))
      yield* Effect.ignore(fs.remove(aside))
    })

  const isStale = (raw: string, now: number): Effect.Effect<boolean, PlatformError.PlatformError> => {
    const owner = parseOwner(raw)
    if (owner !== undefined) {
      return staleness.expiresAt(raw, owner.expiresAt, now) <= now ? Effect.succeed(true) : isDead(identity, owner)
    }
    // Not a lock file we wrote (a crash of the whole machine, a stray edit): stale once it is as old
    // as a lease, or once a whole lease passed since this process first saw it (a future mtime).
    return fs.stat(lockPath).pipe(
      Effect.map((info) => {
        const written = Option.getOrUndefined(info.mtime)?.getTime() ?? now
        return staleness.expiresAt(raw, written + leaseMillis, now) <= now
      }),
      Effect.catchIf(isNotFound, () => Effect.succeed(false))
    )
  }

  const tryCreate = (now: number): Effect.Effect<Option.Option<Holder>, PlatformError.PlatformError> =>
    Effect.gen(function*() {
      const expiresAt = now + leaseMillis
      const raw = JSON.stringify({
        pid: identity.pid,
        host: identity.host,
        id: randomBytes(12).toString("hex"),
        expiresAt
      })
      const temp = yield* TokenFile.tempPath(path, lockPath)
      yield* TokenFile.writeNew(fs, path, temp, new TextEncoder().encode(raw), false)
      const linked = yield* fs.link(temp, lockPath).pipe(
        Effect.as(true),
        Effect.catchIf(isAlreadyExists, () => Effect.succeed(false)),
        Effect.ensuring(Effect.ignore(fs.remove(temp)))
      )
      return linked ? Option.some({ raw, expiresAt }) : Option.none()
    })

  /** One look: the mutex taken, or `Busy`. Uninterruptible, so a taken mutex is never dropped. */
  const attempt: Effect.Effect<Holder, Busy | PlatformError.PlatformError> = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const current = yield* readLock
    if (Option.isNone(current)) {
      const holder = yield* tryCreate(now)
      if (Option.isSome(holder)) return holder.value
    } else if (yield* isStale(current.value, now)) {
      yield* removeIf(current.value)
      const holder = yield* tryCreate(now)
      if (Option.isSome(holder)) return holder.value
    }
    return yield* new Busy()
  })

  const acquire: Mutex["acquire"] = (restore) =>
    Effect.flatMap(Ref.make(Option.none<Holder>()), (taken) =>
      restore(
        Effect.retry(Effect.uninterruptible(Effect.tap(attempt, (holder) => Ref.set(taken, Option.some(holder)))), {
          schedule,
          while: (error) => error._tag === "Busy"
        })
      ).pipe(
        // Interrupted right after a successful look: the caller never sees the holder, so free it.
        Effect.onInterrupt(() =>
          Effect.flatMap(Ref.get(taken), (holder) => Option.isSome(holder) ? release(holder.value) : Effect.void)
        ),
        Effect.catchTag("Busy", () => Effect.dieMessage("the lock file poll ended while it was busy"))
      ))

  const release: Mutex["release"] = (holder) =>
    readLock.pipe(
      Effect.flatMap((current) =>
        Option.isSome(current) && current.value === holder.raw ? removeIf(holder.raw) : Effect.void
      ),
      Effect.ignore
    )

  const check: Mutex["check"] = (holder) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (now >= holder.expiresAt - margin) {
        return yield* new MutexLost({ why: "the file mutex's lease ran out before the write" })
      }
      const current = yield* readLock
      if (Option.isNone(current) || current.value !== holder.raw) {
        return yield* new MutexLost({ why: "another process took the file mutex over before the write" })
      }
    })

  return { acquire, release, check }
}
