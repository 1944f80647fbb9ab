import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as NodeTokenStore from "@effect-oauth/node/NodeTokenStore"
import * as TokenStoreSuite from "@effect-oauth/testing/TokenStoreSuite"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FileSystem from "@effect/platform/FileSystem"
import type * as PlatformPath from "@effect/platform/Path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Config from "effect/Config"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { spawnSync } from "node:child_process"
import { randomUUID } from "node:crypto"
import { rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import { inspect } from "node:util"
import * as LockFile from "../src/internal/lockFile.js"
import * as Children from "./fixtures/children.js"

const root = Path.join(tmpdir(), `effect-oauth-node-token-store-${randomUUID()}`)
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** A token file in a directory of its own, which does not exist yet. */
const freshFile = (label: string): string => Path.join(root, `${label}-${randomUUID()}`, "tokens.json")

const platform = Layer.merge(NodeFileSystem.layer, NodePath.layer)

/** A test on the real clock and file system: the store polls with `Effect.sleep`. */
const live = <A, E>(
  name: string,
  self: () => Effect.Effect<A, E, Scope.Scope | FileSystem.FileSystem | PlatformPath.Path>,
  timeout?: number
): void => it.scopedLive(name, () => Effect.provide(self(), platform), timeout)

const within = (millis: number, failure: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(
    Effect.timeoutOption(effect, Duration.millis(millis)),
    (result) => Option.isSome(result) ? Effect.succeed(result.value) : Effect.dieMessage(failure)
  )

const secret = "at-secret-value-1234567890"

const tokens = (label: string): TokenSet.TokenSet =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`${secret}-${label}`),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`rt-secret-${label}`)),
    expiresAt: DateTime.unsafeMake(1_760_000_123_456),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(1_759_996_523_458),
    scopes: [label]
  })

/** Same shape as `counterTokens` in fixtures/records.mjs. */
const counterTokens = (count: number): TokenSet.TokenSet =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-${count}-`),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`rt-${count}-`)),
    expiresAt: DateTime.unsafeMake(1_760_000_000_000 + count),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(1_759_996_400_000),
    scopes: [`count:${count}`]
  })

const counterOf = (tokens: TokenSet.TokenSet): number => Number((tokens.scopes[0] ?? "count:NaN").slice(6))

const getSome = (store: TokenStore.Service, key: string) =>
  Effect.flatMap(
    store.get(key),
    (record) => Option.isSome(record) ? Effect.succeed(record.value) : Effect.dieMessage(`no record for ${key}`)
  )

/** A compare-and-set increment of the counter of `key`, retried on `VersionConflict`. */
const increment = (store: TokenStore.Service, key: string) =>
  Effect.gen(function*() {
    while (true) {
      const current = yield* store.get(key)
      const next = Option.match(current, { onNone: () => 1, onSome: (record) => counterOf(record.tokens) + 1 })
      const expectedVersion = Option.match(current, { onNone: () => null, onSome: (record) => record.version })
      const result = yield* Effect.either(store.set(key, counterTokens(next), { expectedVersion }))
      if (result._tag === "Right") return result.right
      if (result.left._tag !== "VersionConflict") return yield* result.left
    }
  })

const renderings = (error: unknown): ReadonlyArray<string> => [
  String(error),
  JSON.stringify(error),
  inspect(error, { depth: 10 }),
  Cause.pretty(Cause.fail(error)),
  error instanceof Error ? error.message : ""
]

const assertCorrupt = (error: unknown, operation: string, key: string): void => {
  assert.instanceOf(error, OAuthError.TokenStoreError, `expected a TokenStoreError, got ${String(error)}`)
  if (!(error instanceof OAuthError.TokenStoreError)) return
  assert.strictEqual(error.reason, "Corrupt")
  assert.strictEqual(error.operation, operation)
  assert.strictEqual(error.key, key)
  assert.include(error.message, "remove it")
  for (const rendering of renderings(error)) assert.notInclude(rendering, secret)
}

/** The entries of a directory, or none when it does not exist. */
const listDirectory = (fs: FileSystem.FileSystem, directory: string) =>
  Effect.orElseSucceed(fs.readDirectory(directory), (): ReadonlyArray<string> => [])

/** Waits until a process with `pid` has a ticket in the token file's waiting line. */
const waitingIn = (fs: FileSystem.FileSystem, file: string, pid: number) =>
  Effect.gen(function*() {
    while (true) {
      const text = yield* Effect.orElseSucceed(fs.readFileString(file), () => "{}")
      const waiters = Option.liftThrowable((): Record<string, { readonly pid: unknown }> =>
        JSON.parse(text).waiters ?? {}
      )()
      if (Option.exists(waiters, (line) => Object.values(line).some((ticket) => ticket.pid === pid))) return
      yield* Effect.sleep(Duration.millis(10))
    }
  })

// --- the conformance suite, two instances on one file ---------------------------------------------

/**
 * Replaces the record text of `key` in the token file by one that keeps the secrets where they make
 * the decoding fail, as the suite asks; the document around it stays valid.
 */
const corruptRecord = (file: string) => (key: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const document = JSON.parse(yield* fs.readFileString(file))
    const entry = document.records[key]
    const record = JSON.parse(entry.record)
    entry.record = JSON.stringify({ ...record, expiresAt: record.accessToken, scopes: record.refreshToken })
    yield* fs.writeFileString(file, JSON.stringify(document))
  })

const suiteFile = freshFile("suite")

TokenStoreSuite.run(
  "file store (S29)",
  NodeTokenStore.layer({ path: suiteFile }).pipe(Layer.provideMerge(platform)),
  { shared: true, corrupt: corruptRecord(suiteFile) }
)

// --- the file store's own rules ---------------------------------------------------------------------

describe("NodeTokenStore", () => {
  live(
    "the token file is mode 0600 in a new 0700 directory, and a wider file becomes 0600 on the next write (S29)",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("mode")
        const store = yield* NodeTokenStore.make({ path: file })
        yield* store.set("alice", tokens("alice"))
        assert.strictEqual((yield* fs.stat(file)).mode & 0o777, 0o600)
        assert.strictEqual((yield* fs.stat(Path.dirname(file))).mode & 0o777, 0o700)
        yield* fs.chmod(file, 0o644)
        yield* store.set("alice", tokens("alice"))
        assert.strictEqual((yield* fs.stat(file)).mode & 0o777, 0o600)
        // Nothing else is left next to it: no temp file, no lock file.
        assert.deepStrictEqual(yield* listDirectory(fs, Path.dirname(file)), ["tokens.json"])
      })
  )

  describe("a corrupt token file is reported as Corrupt by every operation and kept byte for byte (S28, S29)", () => {
    const valid = (extra: Record<string, unknown>) =>
      JSON.stringify({ format: "effect-oauth/token-store", version: 1, sequence: 5, records: {}, leases: {}, ...extra })
    const record = JSON.stringify({ accessToken: secret, tokenType: "Bearer" })
    const corruptions: ReadonlyArray<readonly [string, Uint8Array]> = [
      ["a torn document", Buffer.from(valid({ records: { k: { version: 3, record } } }).slice(0, 120))],
      ["not JSON", Buffer.from(`not json ${secret}`)],
      ["an empty file", Buffer.from("")],
      ["JSON null", Buffer.from("null")],
      ["a JSON array", Buffer.from(`["${secret}"]`)],
      ["another format", Buffer.from(JSON.stringify({ format: secret, records: {} }))],
      ["a newer format version", Buffer.from(valid({ version: 2 }))],
      ["a record entry without a version", Buffer.from(valid({ records: { k: { version: secret, record } } }))],
      ["a record version above the sequence", Buffer.from(valid({ records: { k: { version: 6, record } } }))],
      ["a lease that is not an object", Buffer.from(valid({ leases: { k: secret } }))],
      [
        "a waiter's ticket above the sequence",
        Buffer.from(valid({ waiters: { "6": { key: "k", expiresAt: 1, pid: 1, host: "h" } } }))
      ],
      ["a waiter's ticket that is not an object", Buffer.from(valid({ waiters: { "4": secret } }))],
      [
        "invalid UTF-8",
        Buffer.concat([Buffer.from(`{"format":"${secret}`), Buffer.from([0xff, 0xfe]), Buffer.from("\"}")])
      ]
    ]
    for (const [name, bytes] of corruptions) {
      live(name, () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const file = freshFile("corrupt")
          yield* fs.makeDirectory(Path.dirname(file), { recursive: true })
          yield* fs.writeFile(file, bytes)
          const store = yield* NodeTokenStore.make({ path: file })
          assertCorrupt(yield* Effect.flip(store.get("k")), "get", "k")
          assertCorrupt(yield* Effect.flip(store.set("k", tokens("k"))), "set", "k")
          assertCorrupt(
            yield* Effect.flip(store.set("other", tokens("other"), { expectedVersion: null })),
            "set",
            "other"
          )
          assertCorrupt(yield* Effect.flip(store.remove("k")), "remove", "k")
          assertCorrupt(yield* Effect.flip(Effect.scoped(store.lock("k", { lease: "1 second" }))), "lock", "k")
          assert.isTrue(Buffer.from(yield* fs.readFile(file)).equals(bytes), "the corrupt file was changed")
          assert.deepStrictEqual(yield* listDirectory(fs, Path.dirname(file)), ["tokens.json"])
          // The documented recovery: remove the file.
          yield* fs.remove(file)
          const version = yield* store.set("k", tokens("k"), { expectedVersion: null })
          assert.strictEqual((yield* getSome(store, "k")).version, version)
        }))
    }

    live("a file larger than maxFileSize", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("too-large")
        yield* (yield* NodeTokenStore.make({ path: file })).set("k", tokens("k"))
        const before = yield* fs.readFile(file)
        const store = yield* NodeTokenStore.make({ path: file, maxFileSize: 100 })
        const error = yield* Effect.flip(store.get("k"))
        assertCorrupt(error, "get", "k")
        assert.include(error.message, "larger than 100 bytes")
        assertCorrupt(yield* Effect.flip(store.set("k", tokens("k"))), "set", "k")
        assert.isTrue(Buffer.from(yield* fs.readFile(file)).equals(before))
      }))
  })

  live(
    "a corrupt record is Corrupt for its key only; other keys keep working and its text is kept as it was (S28, S29)",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("corrupt-record")
        const store = yield* NodeTokenStore.make({ path: file })
        yield* store.set("broken", tokens("broken"))
        yield* store.set("fine", tokens("fine"))
        yield* corruptRecord(file)("broken")
        const broken = JSON.parse(yield* fs.readFileString(file)).records.broken.record
        assertCorrupt(yield* Effect.flip(store.get("broken")), "get", "broken")
        yield* store.set("fine", tokens("fine-2"))
        yield* store.set("new", tokens("new"))
        assert.strictEqual(Redacted.value((yield* getSome(store, "fine")).tokens.accessToken), `${secret}-fine-2`)
        assert.strictEqual(JSON.parse(yield* fs.readFileString(file)).records.broken.record, broken)
        assertCorrupt(yield* Effect.flip(store.get("broken")), "get", "broken")
      })
  )

  live(
    "keys named __proto__, constructor and toString are stored like any other and pollute nothing (S28)",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("proto")
        const store = yield* NodeTokenStore.make({ path: file })
        const keys = ["__proto__", "constructor", "toString", "hasOwnProperty"]
        for (const key of keys) yield* store.set(key, tokens(key))
        for (const key of keys) {
          assert.strictEqual(Redacted.value((yield* getSome(store, key)).tokens.accessToken), `${secret}-${key}`)
        }
        const records = JSON.parse(yield* fs.readFileString(file)).records
        assert.deepStrictEqual(Object.keys(records).sort(), [...keys].sort())
        assert.strictEqual(Object.getPrototypeOf(records), Object.prototype)
        assert.isTrue(yield* store.remove("__proto__"))
        assert.isTrue(Option.isNone(yield* store.get("__proto__")))
        assert.strictEqual(Redacted.value((yield* getSome(store, "toString")).tokens.accessToken), `${secret}-toString`)
        assert.isFalse(Object.hasOwn(Object.prototype, "record"))
      })
  )

  describe("an unsafe token file or directory is refused with a typed error, nothing read or written (S41)", () => {
    /** Every operation fails with TokenStoreError Unavailable naming the path, and the file is untouched. */
    const assertRefused = (
      fs: FileSystem.FileSystem,
      store: TokenStore.Service,
      watched: string,
      why: string
    ) =>
      Effect.gen(function*() {
        const before = yield* Effect.option(fs.readFileString(watched))
        const attempts: ReadonlyArray<Effect.Effect<OAuthError.TokenStoreError | OAuthError.VersionConflict, unknown>> =
          [
            Effect.flip(store.get("k")),
            Effect.flip(store.set("k", tokens("refused"))),
            Effect.flip(store.remove("k")),
            Effect.flip(Effect.scoped(store.lock("k", { lease: "5 seconds" })))
          ]
        for (const attempt of attempts) {
          const error = yield* attempt.pipe(within(5000, "an operation on an unsafe token file hung"))
          assert.instanceOf(error, OAuthError.TokenStoreError, `expected a refusal, got ${String(error)}`)
          if (!(error instanceof OAuthError.TokenStoreError)) continue
          assert.strictEqual(error.reason, "Unavailable")
          assert.include(error.message, why)
          for (const rendering of renderings(error)) assert.notInclude(rendering, secret)
        }
        const after = yield* Effect.option(fs.readFileString(watched))
        assert.deepStrictEqual(after, before, "the unsafe file was written")
      })

    live(
      "a token file that is a symbolic link is refused, and the file it points to is not touched (S41)",
      () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const target = freshFile("symlink-target")
          const link = freshFile("symlink")
          yield* (yield* NodeTokenStore.make({ path: target })).set("k", tokens("first"))
          yield* fs.makeDirectory(Path.dirname(link), { recursive: true, mode: 0o700 })
          yield* fs.symlink(target, link)
          const store = yield* NodeTokenStore.make({ path: link })
          yield* assertRefused(fs, store, target, "is a symbolic link")
          assert.strictEqual(yield* fs.readLink(link), target)
        })
    )

    live("a token file in a directory that is a symbolic link is refused (S41)", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const real = freshFile("real-dir")
        yield* (yield* NodeTokenStore.make({ path: real })).set("k", tokens("first"))
        const linked = freshFile("linked-dir")
        yield* fs.makeDirectory(Path.dirname(Path.dirname(linked)), { recursive: true })
        yield* fs.symlink(Path.dirname(real), Path.dirname(linked))
        const store = yield* NodeTokenStore.make({ path: linked })
        yield* assertRefused(fs, store, real, "is a symbolic link")
      }))

    live("a token file writable by group or others is refused and keeps its mode (S41)", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        for (const mode of [0o660, 0o606, 0o666]) {
          const file = freshFile("writable-file")
          const store = yield* NodeTokenStore.make({ path: file })
          yield* store.set("k", tokens("first"))
          yield* fs.chmod(file, mode)
          yield* assertRefused(fs, store, file, "writable by group or others")
          assert.strictEqual((yield* fs.stat(file)).mode & 0o777, mode)
        }
      }))

    live(
      "a token file in a directory writable by group or others is refused, and no file is created (S41)",
      () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          for (const mode of [0o770, 0o707, 0o777]) {
            const file = freshFile("writable-dir")
            yield* fs.makeDirectory(Path.dirname(file), { recursive: true })
            yield* fs.chmod(Path.dirname(file), mode)
            const store = yield* NodeTokenStore.make({ path: file })
            yield* assertRefused(fs, store, file, "writable by group or others")
            assert.deepStrictEqual(yield* listDirectory(fs, Path.dirname(file)), [])
          }
        })
    )

    live("a token file or directory owned by another user is refused (S41)", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const uid = process.getuid?.()
        if (uid === 0) {
          // As root: hand a file and a directory to another user.
          const file = freshFile("foreign-file")
          yield* (yield* NodeTokenStore.make({ path: file })).set("k", tokens("first"))
          yield* fs.chown(file, 65534, 65534)
          yield* assertRefused(fs, yield* NodeTokenStore.make({ path: file }), file, "owned by another user")
          const inForeignDir = freshFile("foreign-dir")
          yield* fs.makeDirectory(Path.dirname(inForeignDir), { recursive: true, mode: 0o700 })
          yield* fs.chown(Path.dirname(inForeignDir), 65534, 65534)
          yield* assertRefused(
            fs,
            yield* NodeTokenStore.make({ path: inForeignDir }),
            inForeignDir,
            "owned by another user"
          )
        } else {
          // As another user: the root directory belongs to root.
          yield* assertRefused(
            fs,
            yield* NodeTokenStore.make({ path: "/tokens.json" }),
            "/tokens.json",
            "owned by another user"
          )
        }
      }))
  })

  describe("no lock waits longer than the largest lease the store grants (S42)", () => {
    const tenYears = 10 * 365 * 24 * 3_600_000

    live(
      "a file mutex lock file with a ten-year lease from another host is stale once maxLease has passed (S42)",
      () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const file = freshFile("ten-year-mutex")
          const now = yield* Clock.currentTimeMillis
          yield* fs.makeDirectory(Path.dirname(file), { recursive: true, mode: 0o700 })
          yield* fs.writeFileString(
            `${file}.lock`,
            JSON.stringify({ pid: 4242, host: "another-host", id: "far-future", expiresAt: now + tenYears })
          )
          const store = yield* NodeTokenStore.make({ path: file, maxLease: "600 millis" })
          const write = yield* Effect.fork(store.set("k", tokens("k")))
          yield* Effect.sleep(Duration.millis(200))
          assert.isTrue(Option.isNone(yield* Fiber.poll(write)), "a live lock file was ignored before maxLease")
          yield* Fiber.join(write).pipe(within(5000, "a lock file with a ten-year lease blocked the write"))
          assert.strictEqual(Redacted.value((yield* getSome(store, "k")).tokens.accessToken), `${secret}-k`)
        })
    )

    live(
      "a key lease with a ten-year lease from another host is stale once maxLease has passed (S42)",
      () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const file = freshFile("ten-year-lease")
          const store = yield* NodeTokenStore.make({ path: file, maxLease: "600 millis" })
          yield* store.set("k", tokens("k"))
          const document = JSON.parse(yield* fs.readFileString(file))
          const now = yield* Clock.currentTimeMillis
          document.sequence += 1
          document.leases.k = { fence: document.sequence, expiresAt: now + tenYears, pid: 4242, host: "another-host" }
          yield* fs.writeFileString(file, JSON.stringify(document))
          yield* fs.chmod(file, 0o600)
          const waiter = yield* Effect.fork(Effect.scoped(store.lock("k", { lease: "30 seconds" })))
          yield* Effect.sleep(Duration.millis(200))
          assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)), "a live lease was ignored before maxLease")
          const lock = yield* Fiber.join(waiter).pipe(within(5000, "a ten-year lease blocked the lock"))
          assert.isTrue(lock.fence > document.sequence)
        })
    )

    live(
      "a lease asked for beyond maxLease is granted as maxLease and renewed while held (S42, S45)",
      () =>
        Effect.gen(function*() {
          const file = freshFile("clamped-lease")
          const store = yield* NodeTokenStore.make({ path: file, maxLease: "300 millis" })
          const other = yield* NodeTokenStore.make({ path: file, maxLease: "300 millis" })
          const before = yield* Clock.currentTimeMillis
          const lock = yield* store.lock("k", { lease: Duration.infinity, renew: true })
          assert.isAtMost(lock.expiresAt, (yield* Clock.currentTimeMillis) + 300)
          assert.isAtLeast(lock.expiresAt, before + 300)
          // Held well past its (cut) lease: the renewal keeps it.
          const early = yield* Effect.scoped(other.lock("k", { lease: "1 second" })).pipe(
            Effect.timeoutOption(Duration.millis(1000))
          )
          assert.isTrue(Option.isNone(early), "a held lock was taken over after its cut lease")
        })
    )
  })

  live("an error about a 1 MB key carries it in its message only in bounded form", () =>
    Effect.gen(function*() {
      const store = yield* NodeTokenStore.make({ path: freshFile("huge-key") })
      const key = "k".repeat(1024 * 1024)
      yield* store.set(key, tokens("huge"))
      const conflict = yield* Effect.flip(store.set(key, tokens("huge"), { expectedVersion: null }))
      assert.strictEqual(conflict._tag, "VersionConflict")
      assert.isBelow(conflict.message.length, 400)
      const refused = new OAuthError.TokenStoreError({ operation: "get", reason: "Unavailable", key })
      assert.isBelow(refused.message.length, 400)
      assert.include(refused.message, String(key.length))
    }), 30_000)

  live(
    "a new token file's versions start above those of a removed one, so an old version never matches (S20)",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("recreated")
        const store = yield* NodeTokenStore.make({ path: file })
        const old = yield* store.set("k", tokens("k"))
        yield* fs.remove(file)
        const recreated = yield* store.set("k", tokens("k"), { expectedVersion: null })
        assert.isTrue(recreated > old, `version ${recreated} of the new file is not above ${old}`)
        const conflict = yield* Effect.flip(store.set("k", tokens("k"), { expectedVersion: old }))
        assert.strictEqual(conflict._tag, "VersionConflict")
      })
  )

  describe("the file mutex (S20)", () => {
    const writeLockFile = (fs: FileSystem.FileSystem, file: string, owner: Record<string, unknown>) =>
      Effect.zipRight(
        fs.makeDirectory(Path.dirname(file), { recursive: true }),
        fs.writeFileString(`${file}.lock`, JSON.stringify(owner))
      )

    live("a lock file left by a dead process is taken over at once, not after its lease", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("dead-owner")
        // A process that has ended and been reaped: its pid is free.
        const dead = spawnSync(process.execPath, ["-e", ""]).pid
        assert.isDefined(dead)
        const identity = yield* LockFile.makeIdentity(fs)
        const now = yield* Clock.currentTimeMillis
        yield* writeLockFile(fs, file, { pid: dead, host: identity.host, id: "dead", expiresAt: now + 3_600_000 })
        const store = yield* NodeTokenStore.make({ path: file })
        yield* store.set("k", tokens("k")).pipe(within(2000, "a dead process's lock file blocked the write"))
        assert.isFalse(yield* fs.exists(`${file}.lock`))
        assert.strictEqual(Redacted.value((yield* getSome(store, "k")).tokens.accessToken), `${secret}-k`)
      }))

    live(
      "a live owner's lock file holds writers off until its lease runs out, then it is taken over",
      () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const file = freshFile("live-owner")
          const identity = yield* LockFile.makeIdentity(fs)
          const start = yield* Clock.currentTimeMillis
          // This process is alive: only the lease can end this lock.
          yield* writeLockFile(fs, file, { pid: process.pid, host: identity.host, id: "live", expiresAt: start + 400 })
          const store = yield* NodeTokenStore.make({ path: file })
          const write = yield* Effect.fork(store.set("k", tokens("k")))
          yield* Effect.sleep(Duration.millis(200))
          assert.isTrue(Option.isNone(yield* Fiber.poll(write)), "a write went through a live lock file")
          yield* Fiber.join(write).pipe(within(2000, "the lock file stayed taken after its lease ran out"))
          assert.isTrue((yield* Clock.currentTimeMillis) - start >= 400)
          assert.isFalse(yield* fs.exists(`${file}.lock`))
        })
    )

    live("an unreadable lock file is taken over once it is as old as the mutex lease", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("unreadable-lock")
        yield* fs.makeDirectory(Path.dirname(file), { recursive: true })
        yield* fs.writeFileString(`${file}.lock`, "")
        const store = yield* NodeTokenStore.make({ path: file, mutexLease: "1 second" })
        const write = yield* Effect.fork(store.set("k", tokens("k")))
        yield* Effect.sleep(Duration.millis(400))
        assert.isTrue(Option.isNone(yield* Fiber.poll(write)), "a fresh lock file was taken over")
        yield* Fiber.join(write).pipe(within(3000, "an old unreadable lock file was never taken over"))
      }))

    live("interrupted writers never leave the mutex taken or the file torn", () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("interrupted")
        const store = yield* NodeTokenStore.make({ path: file })
        for (let i = 0; i < 40; i++) {
          const write = yield* Effect.fork(store.set("k", counterTokens(i)))
          yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(0, 12)))
          yield* Fiber.interrupt(write)
        }
        assert.isFalse(yield* fs.exists(`${file}.lock`), "an interrupted write left the lock file")
        const other = yield* NodeTokenStore.make({ path: file })
        yield* other.set("k", counterTokens(100)).pipe(within(2000, "the mutex stayed taken"))
        assert.strictEqual(counterOf((yield* getSome(store, "k")).tokens), 100)
      }))
  })

  live("two store instances on one file never lose a compare-and-set update (S20)", () =>
    Effect.gen(function*() {
      const file = freshFile("two-instances")
      const a = yield* NodeTokenStore.make({ path: file })
      const b = yield* NodeTokenStore.make({ path: file })
      const writers = 8
      const increments = 10
      const versions = yield* Effect.forEach(
        Array.from({ length: writers }, (_, i) => i),
        (i) => Effect.forEach(Array.from({ length: increments }), () => increment(i % 2 === 0 ? a : b, "counter")),
        { concurrency: "unbounded" }
      )
      const stored = yield* getSome(b, "counter")
      assert.strictEqual(counterOf(stored.tokens), writers * increments, "an update was lost")
      assert.strictEqual(new Set(versions.flat()).size, writers * increments, "two writes got the same version")
      assert.strictEqual(stored.version, Math.max(...versions.flat()))
    }), 30_000)

  live(
    "a key lock holder (even with an infinite lease) writes without deadlock, and other keys' writers are not held off (S19, S20)",
    () =>
      Effect.gen(function*() {
        const file = freshFile("lock-and-write")
        const a = yield* NodeTokenStore.make({ path: file })
        const b = yield* NodeTokenStore.make({ path: file })
        const lock = yield* a.lock("k", { lease: Duration.infinity })
        const version = yield* a.set("k", tokens("k")).pipe(within(2000, "the holder's write deadlocked"))
        yield* b.set("other", tokens("other")).pipe(within(2000, "a key lock held off a write of another key"))
        assert.isTrue(yield* a.remove("other").pipe(within(2000, "the holder's remove deadlocked")))
        assert.strictEqual((yield* getSome(b, "k")).version, version)
        assert.isTrue(version > lock.fence)
        // An infinite lease is granted as the largest lease, the default 10 minutes (S42): the document
        // stays valid and no record blocks anyone for longer.
        assert.isAtMost(lock.expiresAt, (yield* Clock.currentTimeMillis) + 600_000)
      })
  )

  live("layerConfig takes the token file's path from configuration (S29)", () =>
    Effect.gen(function*() {
      const file = freshFile("config")
      const layer = NodeTokenStore.layerConfig({ path: Config.string("TOKEN_FILE") }).pipe(
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["TOKEN_FILE", file]]))))
      )
      const context = yield* Layer.build(layer)
      const store = Context.get(context, TokenStore.TokenStore)
      yield* store.set("k", tokens("k"))
      const fs = yield* FileSystem.FileSystem
      assert.isTrue(yield* fs.exists(file))
    }))

  live(
    "stale temp files are ignored, and removed at start once older than staleTempAge (S29)",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("temps")
        const directory = Path.dirname(file)
        const first = yield* NodeTokenStore.make({ path: file })
        const version = yield* first.set("k", tokens("k"))
        const old = Path.join(directory, ".tokens.json.4242.0123456789ab.tmp")
        const young = Path.join(directory, ".tokens.json.4242.ba9876543210.tmp")
        const unrelated = Path.join(directory, "notes.tmp")
        for (const temp of [old, young, unrelated]) yield* fs.writeFileString(temp, "{\"torn\":")
        const hourAgo = new Date(Date.now() - 3_600_000)
        yield* fs.utimes(old, hourAgo, hourAgo)
        yield* fs.utimes(unrelated, hourAgo, hourAgo)
        const store = yield* NodeTokenStore.make({ path: file })
        assert.isFalse(yield* fs.exists(old), "an old temp file was kept")
        assert.isTrue(yield* fs.exists(young), "a young temp file, maybe a write in progress, was removed")
        assert.isTrue(yield* fs.exists(unrelated), "a file that is not a temp file of the store was removed")
        assert.strictEqual((yield* getSome(store, "k")).version, version)
      })
  )

  describe("processes sharing one file (S20)", () => {
    beforeAll(() => Children.assertBuilt())

    live("4 processes making 50 compare-and-set increments each on one key end at 200", () =>
      Effect.gen(function*() {
        const file = freshFile("processes")
        const children = yield* Effect.forEach(
          [0, 1, 2, 3],
          () => Children.start("cas-writer.mjs", [file, "counter", "50"]),
          { concurrency: "unbounded" }
        )
        for (const child of children) assert.strictEqual(yield* child.line, "ready")
        // All start together, so their writes interleave.
        for (const child of children) yield* child.send("go")
        const results = yield* Effect.forEach(children, (child) => child.line, { concurrency: "unbounded" })
        for (const result of results) assert.match(result, /^done \d+$/)
        for (const child of children) assert.strictEqual((yield* child.ended).code, 0)
        const store = yield* NodeTokenStore.make({ path: file })
        assert.strictEqual(counterOf((yield* getSome(store, "counter")).tokens), 200, "an update was lost")
      }), 60_000)

    live(
      "a lock held by a process killed with SIGKILL is taken over at once, long before its lease runs out",
      () =>
        Effect.gen(function*() {
          const file = freshFile("killed-holder")
          const holder = yield* Children.start("lock-holder.mjs", [file, "k", "60000"])
          const locked = yield* holder.line
          assert.match(locked, /^locked \d+$/)
          const store = yield* NodeTokenStore.make({ path: file })
          const early = yield* Effect.scoped(store.lock("k", { lease: "30 seconds" })).pipe(
            Effect.timeoutOption(Duration.millis(300))
          )
          assert.isTrue(Option.isNone(early), "the lock of another process was taken while it lived")
          const ended = yield* holder.kill("SIGKILL")
          assert.strictEqual(ended.signal, "SIGKILL")
          const lock = yield* Effect.scoped(store.lock("k", { lease: "30 seconds" })).pipe(
            within(2000, "the lock of a killed process was not taken over")
          )
          assert.isTrue(lock.fence > Number(locked.slice("locked ".length)))
        }),
      30_000
    )

    live(
      "waiters in separate processes get the lock in the order they arrived, none overtaken (S47)",
      () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const file = freshFile("fair-processes")
          const store = yield* NodeTokenStore.make({ path: file })
          const holder = yield* Scope.make()
          yield* Scope.extend(store.lock("k", { lease: "30 seconds" }), holder)
          const children: Array<Children.Child> = []
          for (let i = 0; i < 4; i++) {
            const child = yield* Children.start("lock-waiter.mjs", [file, "k", "30"])
            // The next one starts once this one stands in line.
            yield* waitingIn(fs, file, child.pid).pipe(within(20_000, "a waiting process took no ticket"))
            children.push(child)
          }
          yield* Scope.close(holder, Exit.void)
          const fences = yield* Effect.forEach(children, (child) =>
            Effect.map(child.line, (line) => {
              assert.match(line, /^locked \d+$/)
              return Number(line.slice("locked ".length))
            }))
          assert.deepStrictEqual(fences, [...fences].sort((x, y) => x - y), "a later process overtook an earlier one")
          for (const child of children) assert.strictEqual((yield* child.ended).code, 0)
          const document = JSON.parse(yield* fs.readFileString(file))
          assert.deepStrictEqual(document.waiters, {}, "a ticket was left in line")
        }),
      60_000
    )

    live(
      "a waiting process killed with SIGKILL does not hold the line: the waiters behind it get the lock (S47)",
      () =>
        Effect.gen(function*() {
          const fs = yield* FileSystem.FileSystem
          const file = freshFile("killed-waiter")
          const store = yield* NodeTokenStore.make({ path: file })
          const other = yield* NodeTokenStore.make({ path: file })
          const holder = yield* Scope.make()
          const first = yield* Scope.extend(store.lock("k", { lease: "30 seconds" }), holder)
          const victim = yield* Children.start("lock-waiter.mjs", [file, "k", "30"])
          yield* waitingIn(fs, file, victim.pid).pipe(within(20_000, "the waiting process took no ticket"))
          const behind = yield* Effect.fork(Effect.scoped(other.lock("k", { lease: "30 seconds" })))
          yield* Effect.sleep(Duration.millis(100))
          assert.strictEqual((yield* victim.kill("SIGKILL")).signal, "SIGKILL")
          yield* Scope.close(holder, Exit.void)
          const lock = yield* Fiber.join(behind).pipe(within(10_000, "a dead waiter's ticket blocked the line"))
          assert.isTrue(lock.fence > first.fence)
        }),
      30_000
    )
  })

  live(
    "a ticket of another host that is no longer renewed holds the line only until it lapses (S47)",
    () =>
      Effect.gen(function*() {
        const fs = yield* FileSystem.FileSystem
        const file = freshFile("lapsed-ticket")
        const store = yield* NodeTokenStore.make({ path: file })
        yield* store.set("k", tokens("k"))
        const document = JSON.parse(yield* fs.readFileString(file))
        const now = yield* Clock.currentTimeMillis
        document.sequence += 1
        document.waiters[String(document.sequence)] = {
          key: "k",
          expiresAt: now + 1000,
          pid: 4242,
          host: "another-host"
        }
        yield* fs.writeFileString(file, JSON.stringify(document))
        yield* fs.chmod(file, 0o600)
        const waiter = yield* Effect.fork(Effect.scoped(store.lock("k", { lease: "30 seconds" })))
        yield* Effect.sleep(Duration.millis(300))
        assert.isTrue(Option.isNone(yield* Fiber.poll(waiter)), "a waiter overtook one that was in line before it")
        const lock = yield* Fiber.join(waiter).pipe(within(10_000, "a lapsed ticket kept holding the line"))
        assert.isTrue(lock.fence > document.sequence)
        assert.deepStrictEqual(JSON.parse(yield* fs.readFileString(file)).waiters, {}, "the lapsed ticket was kept")
      })
  )
})
