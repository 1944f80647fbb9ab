/**
 * The token file of `NodeTokenStore`: its document format, how it is read and validated, and how it
 * is replaced atomically (SPEC S28, S29).
 */
import type * as PlatformError from "@effect/platform/Error"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import { randomBytes } from "node:crypto"

/** The `format` field that marks a token store document. */
export const format = "effect-oauth/token-store"

/** A stored record: the version of its last write and the record text (opaque here: `TokenStore.make` encodes it). */
export interface Entry {
  readonly version: number
  readonly record: string
}

/** The lease of a key's lock: who holds it, until when, and its fence. */
export interface Lease {
  readonly fence: number
  readonly expiresAt: number
  readonly pid: number
  readonly host: string
}

/**
 * A place in the waiting line of a key's lock (S47): the ticket number (the map's key) comes from
 * `sequence`, so lower is earlier. The waiter renews `expiresAt` while it waits; a ticket that was not
 * renewed, or whose process died, no longer holds anyone back.
 */
export interface Ticket {
  readonly key: string
  readonly expiresAt: number
  readonly pid: number
  readonly host: string
}

/**
 * The whole token file. `sequence` is the last version or fence handed out: every write of a record
 * and every lock takes the next number, so versions and fences grow across keys, removals and
 * processes. A new file starts its sequence at the current time in milliseconds, so they keep
 * growing even after the file was removed.
 */
export interface Document {
  readonly sequence: number
  readonly records: ReadonlyMap<string, Entry>
  readonly leases: ReadonlyMap<string, Lease>
  /** The waiting lines of every key, by ticket number (a decimal string). */
  readonly waiters: ReadonlyMap<string, Ticket>
}

/** The token file cannot be read as a document; `why` names the problem, never the content. */
export class CorruptDocument extends Data.TaggedError("CorruptDocument")<{ readonly why: string }> {}

/** An empty document whose sequence starts at `now`. */
export const empty = (now: number): Document => ({
  sequence: Math.floor(now),
  records: new Map(),
  leases: new Map(),
  waiters: new Map()
})

const isObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0

// Maps are read with Object.entries from JSON.parse's own properties, and written back with
// Object.fromEntries: a key such as "__proto__" stays an ordinary key (S28). Schema.Record would turn
// it into the object's prototype, which is why this validation is written by hand.
const readMap = <A>(
  value: unknown,
  name: string,
  read: (entry: Readonly<Record<string, unknown>>) => A | undefined
): Map<string, A> | string => {
  if (!isObject(value)) return `${name} is not an object`
  const map = new Map<string, A>()
  let index = 0
  for (const [key, entry] of Object.entries(value)) {
    const parsed = isObject(entry) ? read(entry) : undefined
    if (parsed === undefined) return `entry ${index} of ${name} is invalid`
    map.set(key, parsed)
    index++
  }
  return map
}

const readEntry = (entry: Readonly<Record<string, unknown>>): Entry | undefined =>
  isCount(entry.version) && entry.version > 0 && typeof entry.record === "string"
    ? { version: entry.version, record: entry.record }
    : undefined

const readLease = (entry: Readonly<Record<string, unknown>>): Lease | undefined =>
  isCount(entry.fence) && entry.fence > 0 && typeof entry.expiresAt === "number" && Number.isFinite(entry.expiresAt) &&
    isCount(entry.pid) && entry.pid > 0 && typeof entry.host === "string"
    ? { fence: entry.fence, expiresAt: entry.expiresAt, pid: entry.pid, host: entry.host }
    : undefined

const readTicket = (entry: Readonly<Record<string, unknown>>): Ticket | undefined =>
  typeof entry.key === "string" && typeof entry.expiresAt === "number" && Number.isFinite(entry.expiresAt) &&
    isCount(entry.pid) && entry.pid > 0 && typeof entry.host === "string"
    ? { key: entry.key, expiresAt: entry.expiresAt, pid: entry.pid, host: entry.host }
    : undefined

/** Validates a parsed document. */
export const fromJson = (json: unknown): Document | string => {
  if (!isObject(json) || json.format !== format) return "not an effect-oauth token store file"
  if (json.version !== 1) {
    return isCount(json.version) ? `format version ${json.version} is not supported` : "unknown format version"
  }
  if (!isCount(json.sequence)) return "the sequence is invalid"
  const records = readMap(json.records, "records", readEntry)
  if (typeof records === "string") return records
  const leases = readMap(json.leases, "leases", readLease)
  if (typeof leases === "string") return leases
  for (const entry of records.values()) {
    if (entry.version > json.sequence) return "a record version is above the sequence"
  }
  for (const lease of leases.values()) {
    if (lease.fence > json.sequence) return "a lock fence is above the sequence"
  }
  // Files written before waiting lines existed have none.
  const waiters = json.waiters === undefined ? new Map<string, Ticket>() : readMap(json.waiters, "waiters", readTicket)
  if (typeof waiters === "string") return waiters
  for (const ticket of waiters.keys()) {
    if (!/^[1-9][0-9]{0,15}$/.test(ticket) || Number(ticket) > json.sequence) return "a waiter's ticket is invalid"
  }
  return { sequence: json.sequence, records, leases, waiters }
}

/** The file text of a document. */
export const toText = (document: Document): string =>
  JSON.stringify(
    {
      format,
      version: 1,
      sequence: document.sequence,
      records: Object.fromEntries(document.records),
      leases: Object.fromEntries(document.leases),
      waiters: Object.fromEntries(document.waiters)
    },
    null,
    2
  ) + "\n"

const utf8 = new TextDecoder("utf-8", { fatal: true })

/**
 * Parses file bytes. The error never quotes the content: JSON.parse's own message shows a piece of
 * the text, which may be a token (S26).
 */
export const parse = (bytes: Uint8Array): Effect.Effect<Document, CorruptDocument> =>
  Effect.gen(function*() {
    if (bytes.length === 0) return yield* new CorruptDocument({ why: "the file is empty" })
    const text = yield* Effect.try({
      try: () => utf8.decode(bytes),
      catch: () => new CorruptDocument({ why: "the file is not UTF-8 text" })
    })
    const json = yield* Effect.try({
      try: (): unknown => JSON.parse(text),
      catch: () => new CorruptDocument({ why: "the file is not valid JSON" })
    })
    const document = fromJson(json)
    return typeof document === "string" ? yield* new CorruptDocument({ why: document }) : document
  })

/** A fresh name for a temporary file next to `target`: hidden, with the pid and 48 random bits. */
export const tempPath = (path: Path.Path, target: string): Effect.Effect<string> =>
  Effect.sync(() =>
    path.join(
      path.dirname(target),
      `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`
    )
  )

/** Whether a directory entry is one of the temporary files of `target` (see `tempPath`). */
const isTempOf = (path: Path.Path, target: string) => {
  const prefix = `.${path.basename(target)}.`
  return (name: string): boolean => name.startsWith(prefix) && /\.\d+\.[0-9a-f]+\.tmp$/.test(name)
}

const isNotFound = (error: PlatformError.PlatformError): boolean =>
  error._tag === "SystemError" && error.reason === "NotFound"

/**
 * Creates `file` with `O_CREAT | O_EXCL` and mode 0600 and writes `bytes`, fsyncing them when
 * `sync`. A missing directory is created (mode 0700) and the open retried once.
 */
export const writeNew = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  file: string,
  bytes: Uint8Array,
  sync: boolean
): Effect.Effect<void, PlatformError.PlatformError> => {
  // Only a file this call created is removed on failure: `wx` fails on an existing one.
  const open = Effect.scoped(
    Effect.flatMap(
      fs.open(file, { flag: "wx", mode: 0o600 }),
      (handle) =>
        (sync ? Effect.zipRight(handle.writeAll(bytes), handle.sync) : handle.writeAll(bytes)).pipe(
          Effect.tapError(() => Effect.ignore(fs.remove(file)))
        )
    )
  )
  return Effect.catchIf(
    open,
    isNotFound,
    () => Effect.zipRight(fs.makeDirectory(path.dirname(file), { recursive: true, mode: 0o700 }), open)
  )
}

/** fsyncs a directory, so that a rename in it survives a crash. Windows cannot open directories. */
export const syncDirectory = (
  fs: FileSystem.FileSystem,
  directory: string
): Effect.Effect<void, PlatformError.PlatformError> =>
  process.platform === "win32"
    ? Effect.void
    : Effect.scoped(Effect.flatMap(fs.open(directory, { flag: "r" }), (handle) => handle.sync))

/**
 * Replaces `target` atomically (S29): the bytes go to a fresh 0600 temp file in the same directory,
 * which is fsynced, then `commit` runs (the last chance to refuse, e.g. when the file mutex was
 * lost), then the temp file is renamed over the target and the directory fsynced. A crash at any
 * point leaves the old or the new file; a failure removes the temp file.
 */
export const replace = <E>(
  fs: FileSystem.FileSystem,
  path: Path.Path,
  target: string,
  text: string,
  commit: Effect.Effect<void, E>
): Effect.Effect<void, PlatformError.PlatformError | E> =>
  Effect.flatMap(tempPath(path, target), (temp) =>
    writeNew(fs, path, temp, new TextEncoder().encode(text), true).pipe(
      Effect.zipRight(
        commit.pipe(
          Effect.zipRight(fs.rename(temp, target)),
          Effect.tapError(() => Effect.ignore(fs.remove(temp)))
        )
      ),
      Effect.zipRight(syncDirectory(fs, path.dirname(target)))
    ))

/**
 * Why `target` must not be used (SPEC S41), or `undefined` when it is fine or missing: a symbolic
 * link, not of the expected type, owned by another user than `uid`, or writable by group or others.
 */
export const unsafeReason = (
  fs: FileSystem.FileSystem,
  target: string,
  type: "File" | "Directory",
  uid: number | undefined
): Effect.Effect<string | undefined, PlatformError.PlatformError> =>
  fs.readLink(target).pipe(
    Effect.as<string | undefined>("is a symbolic link"),
    Effect.catchAll((error) =>
      isNotFound(error)
        ? Effect.succeed(undefined)
        : fs.stat(target).pipe(
          Effect.map((info) => {
            if (info.type !== type) return type === "File" ? "is not a regular file" : "is not a directory"
            const owner = Option.getOrUndefined(info.uid)
            if (uid !== undefined && owner !== undefined && owner !== uid) return "is owned by another user"
            if ((info.mode & 0o022) !== 0) return "is writable by group or others"
            return undefined
          }),
          Effect.catchIf(isNotFound, () => Effect.succeed(undefined))
        )
    )
  )

/**
 * Reads and validates the document; `None` when there is no file. A file larger than `maxBytes` is
 * corrupt without being read whole (S28: bounded memory).
 */
export const read = (
  fs: FileSystem.FileSystem,
  target: string,
  maxBytes: number
): Effect.Effect<Option.Option<Document>, CorruptDocument | PlatformError.PlatformError> =>
  Effect.gen(function*() {
    const info = yield* fs.stat(target)
    if (info.type !== "File") return yield* new CorruptDocument({ why: "the path is not a regular file" })
    if (info.size > BigInt(maxBytes)) {
      return yield* new CorruptDocument({ why: `the file is larger than ${maxBytes} bytes` })
    }
    const bytes = yield* fs.readFile(target)
    if (bytes.length > maxBytes) {
      return yield* new CorruptDocument({ why: `the file is larger than ${maxBytes} bytes` })
    }
    return Option.some(yield* parse(bytes))
  }).pipe(
    Effect.catchIf(
      (error): error is PlatformError.PlatformError => error._tag !== "CorruptDocument" && isNotFound(error),
      () => Effect.succeed(Option.none<Document>())
    )
  )

/**
 * Removes the temp files of `target` (and of its lock file) older than `maxAgeMillis`: those of
 * writers that died before their rename. Younger ones may belong to a write in progress. Best effort.
 */
export const removeStaleTemps = (
  fs: FileSystem.FileSystem,
  path: Path.Path,
  target: string,
  now: number,
  maxAgeMillis: number
): Effect.Effect<void> => {
  const directory = path.dirname(target)
  const isTemp = isTempOf(path, target)
  return fs.readDirectory(directory).pipe(
    Effect.flatMap((names) =>
      Effect.forEach(
        names.filter(isTemp),
        (name) => {
          const file = path.join(directory, name)
          return fs.stat(file).pipe(
            Effect.flatMap((info) => {
              const mtime = Option.getOrUndefined(info.mtime)?.getTime() ?? now
              return now - mtime > maxAgeMillis ? fs.remove(file) : Effect.void
            }),
            Effect.ignore
          )
        },
        { discard: true }
      )
    ),
    Effect.ignore
  )
}
