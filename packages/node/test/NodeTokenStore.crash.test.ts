import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as NodeTokenStore from "@effect-oauth/node/NodeTokenStore"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as FileSystem from "@effect/platform/FileSystem"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as Redacted from "effect/Redacted"
import { randomUUID } from "node:crypto"
import { rmSync } from "node:fs"
import { tmpdir } from "node:os"
import * as Path from "node:path"
import * as Children from "./fixtures/children.js"

const root = Path.join(tmpdir(), `effect-oauth-node-token-store-crash-${randomUUID()}`)
afterAll(() => rmSync(root, { recursive: true, force: true }))

/** Characters added to each token, so that a write of the file takes a while to be killed in. */
const padding = 32 * 1024
/** Writers run side by side on files of their own, each killed `kills / lanes` times. */
const lanes = 4
const kills = 100

/** Same shape as `counterTokens` in fixtures/records.mjs. */
const expected = (count: number) =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-${count}-${"a".repeat(padding)}`),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`rt-${count}-${"r".repeat(padding)}`)),
    expiresAt: DateTime.unsafeMake(1_760_000_000_000 + count),
    refreshExpiresAt: Option.none(),
    issuedAt: DateTime.unsafeMake(1_759_996_400_000),
    scopes: [`count:${count}`]
  })

const counterOf = (tokens: TokenSet.TokenSet): number => Number((tokens.scopes[0] ?? "count:NaN").slice(6))

/**
 * One writer file: starts a writer, waits for its first write, kills it with SIGKILL 5–60 ms later,
 * and checks the file; the next writer is started while the current one runs, so that its start-up
 * overlaps.
 */
const lane = (index: number, rounds: number) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const file = Path.join(root, `lane-${index}`, "tokens.json")
    const store = yield* NodeTokenStore.make({ path: file })
    const start = () => Children.start("crash-writer.mjs", [file, "crash", String(padding)])
    let floor = 0
    let next = yield* start()
    for (let round = 0; round < rounds; round++) {
      const child = next
      assert.strictEqual(yield* child.line, "ready")
      if (round + 1 < rounds) next = yield* start()
      yield* child.send("go")
      // The first write is done: the writer is in its loop, mid-write most of the time.
      assert.match(yield* child.line, /^committed \d+$/)
      yield* Effect.sleep(Duration.millis(yield* Random.nextIntBetween(5, 61)))
      const ended = yield* child.kill("SIGKILL")
      assert.strictEqual(ended.signal, "SIGKILL", `the writer ended by itself: ${ended.stderr}`)

      // What the writer committed last; the file holds that record or the one it was writing.
      const committed = (yield* child.lines).filter((line) => line.startsWith("committed "))
      const last = committed.length === 0 ? floor : Number(committed[committed.length - 1]?.slice(10))
      const text = yield* fs.readFileString(file)
      const document = JSON.parse(text)
      assert.strictEqual(document.format, "effect-oauth/token-store", "the file is not a whole document")
      assert.strictEqual((yield* fs.stat(file)).mode & 0o777, 0o600)
      const stored = yield* store.get("crash")
      if (Option.isNone(stored)) return assert.fail("the record is gone")
      const count = counterOf(stored.value.tokens)
      assert.include([last, last + 1], count, `the file holds record ${count}, the writer had committed ${last}`)
      const want = expected(count)
      const got = stored.value.tokens
      assert.strictEqual(Redacted.value(got.accessToken), Redacted.value(want.accessToken))
      assert.deepStrictEqual(
        Option.map(got.refreshToken, Redacted.value),
        Option.map(want.refreshToken, Redacted.value)
      )
      assert.strictEqual(DateTime.toEpochMillis(got.expiresAt), DateTime.toEpochMillis(want.expiresAt))
      assert.deepStrictEqual([...got.scopes], [...want.scopes])
      floor = count
    }
    // The last writer died holding who knows what: the store still takes a write at once.
    const version = Option.getOrNull(Option.map(yield* store.get("crash"), (record) => record.version))
    yield* store.set("crash", expected(floor + 1), { expectedVersion: version }).pipe(
      Effect.timeout(Duration.seconds(2))
    )
  })

describe("NodeTokenStore crash safety", () => {
  beforeAll(() => Children.assertBuilt())

  it.scopedLive(
    `a writer killed with SIGKILL at a random moment leaves the old or the new record, never a torn file, ${kills} times (S29)`,
    () =>
      Effect.gen(function*() {
        const perLane = Math.ceil(kills / lanes)
        yield* Effect.forEach(Array.from({ length: lanes }, (_, i) => i), (i) => lane(i, perLane), {
          concurrency: "unbounded"
        })
      }).pipe(Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))),
    90_000
  )
})
