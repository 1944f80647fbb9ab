import * as EncryptedTokenStore from "@effect-oauth/core/EncryptedTokenStore"
import * as OAuthConfig from "@effect-oauth/core/OAuthConfig"
import * as OAuthError from "@effect-oauth/core/OAuthError"
import * as TokenSet from "@effect-oauth/core/TokenSet"
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as TokenStoreSuite from "@effect-oauth/testing/TokenStoreSuite"
import { assert, describe, it } from "@effect/vitest"
import * as ConfigError from "effect/ConfigError"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import { randomBytes, randomUUID } from "node:crypto"
import { inspect } from "node:util"

const newKey = (id: string): EncryptedTokenStore.Key => ({
  id,
  key: Redacted.make(randomBytes(32).toString("base64"))
})

const keyA = newKey("2025-10")
const keyB = newKey("2025-04")

const tokens = (label = "user") =>
  new TokenSet.TokenSet({
    accessToken: Redacted.make(`at-${label}-${randomUUID()}`),
    tokenType: "Bearer",
    refreshToken: Option.some(Redacted.make(`rt-${label}-${randomUUID()}`)),
    expiresAt: DateTime.unsafeMake(1_760_000_000_000),
    refreshExpiresAt: Option.some(DateTime.unsafeMake(1_762_592_000_000)),
    issuedAt: DateTime.unsafeMake(1_759_996_400_000),
    scopes: ["api:agent:message:*"]
  })

const secretsOf = (set: TokenSet.TokenSet): ReadonlyArray<string> => [
  Redacted.value(set.accessToken),
  ...Option.toArray(Option.map(set.refreshToken, Redacted.value))
]

const assertNoSecret = (error: unknown, secrets: ReadonlyArray<string>) => {
  const renderings = [String(error), JSON.stringify(error), inspect(error, { depth: 10 })]
  for (const rendering of renderings) {
    for (const secret of secrets) assert.notInclude(rendering, secret, "an error shows a secret")
  }
}

const assertCorrupt = (error: OAuthError.TokenStoreError | OAuthError.VersionConflict, key: string) => {
  assert.instanceOf(error, OAuthError.TokenStoreError)
  if (error._tag !== "TokenStoreError") return
  assert.strictEqual(error.reason, "Corrupt")
  assert.strictEqual(error.key, key)
}

/** A raw memory backend, the encrypting store over it and a reader of the raw text. */
const stores = (keys: EncryptedTokenStore.Options["keys"]) =>
  Effect.gen(function*() {
    const raw = yield* TokenStore.makeMemoryBackend
    const store = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys })
    return { raw, store }
  })

const rawText = (raw: TokenStore.Backend, key: string) =>
  Effect.map(raw.get(key), (record) => Option.getOrThrow(record).text)

/** Rewrites the raw text of `key`. */
const rewrite = (raw: TokenStore.Backend, key: string, change: (text: string) => string) =>
  Effect.gen(function*() {
    yield* raw.set(key, change(yield* rawText(raw, key)))
  })

const flipLast = (text: string) => `${text.slice(0, -2)}${text.at(-2) === "A" ? "B" : "A"}${text.slice(-1)}`

describe("EncryptedTokenStore", () => {
  it.effect("a token set comes back whole through the encrypting store, 16 KB tokens included (S15, S26)", () =>
    Effect.gen(function*() {
      const { store } = yield* stores([keyA])
      const written = new TokenSet.TokenSet({
        ...tokens(),
        accessToken: Redacted.make(`at-${"é".repeat(8 * 1024)}`),
        refreshToken: Option.none()
      })
      const version = yield* store.set("user-1", written)
      const read = Option.getOrThrow(yield* store.get("user-1"))
      assert.strictEqual(read.version, version)
      assert.strictEqual(Redacted.value(read.tokens.accessToken), Redacted.value(written.accessToken))
      assert.isTrue(Option.isNone(read.tokens.refreshToken))
      assert.deepStrictEqual(
        Schema.encodeSync(TokenSet.TokenSet)(read.tokens),
        Schema.encodeSync(TokenSet.TokenSet)(written)
      )
      const full = tokens()
      yield* store.set("user-2", full)
      assert.deepStrictEqual(
        Schema.encodeSync(TokenSet.TokenSet)(Option.getOrThrow(yield* store.get("user-2")).tokens),
        Schema.encodeSync(TokenSet.TokenSet)(full)
      )
    }))

  it.effect("the raw store holds no plaintext token: each record is v1.<key id>.<iv>.<ciphertext> with a fresh IV (S26)", () =>
    Effect.gen(function*() {
      const { raw, store } = yield* stores([keyA])
      const written = tokens()
      yield* store.set("user-1", written)
      yield* store.set("user-2", written)
      const one = yield* rawText(raw, "user-1")
      const two = yield* rawText(raw, "user-2")
      for (const text of [one, two]) {
        for (const secret of secretsOf(written)) assert.notInclude(text, secret)
        assert.match(text, /^v1\.2025-10\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/)
      }
      // The same record sealed twice: different IVs, different ciphertexts.
      yield* store.set("user-1", written)
      const again = yield* rawText(raw, "user-1")
      assert.notStrictEqual(one, again)
      assert.notStrictEqual(one.split(".")[2], again.split(".")[2])
      // The possibly-spent mark (S44) is sealed with the tokens and comes back.
      const sentAt = DateTime.unsafeMake(1_760_000_100_000)
      yield* store.set("user-3", written, { refreshSentAt: sentAt })
      assert.notInclude(yield* rawText(raw, "user-3"), "refreshSentAt")
      const marked = Option.getOrThrow(yield* store.get("user-3"))
      assert.strictEqual(marked.refreshSentAt?.epochMillis, sentAt.epochMillis)
    }))

  it.effect("rotation: the first key seals, every listed key opens, so old records read after a new key is added", () =>
    Effect.gen(function*() {
      const raw = yield* TokenStore.makeMemoryBackend
      const old = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [keyB] })
      const written = tokens("old")
      yield* old.set("user-1", written)

      const rotated = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [keyA, keyB] })
      const read = Option.getOrThrow(yield* rotated.get("user-1"))
      assert.strictEqual(Redacted.value(read.tokens.accessToken), Redacted.value(written.accessToken))

      // A write seals with the new key; once rewritten, the old key can go.
      yield* rotated.set("user-1", read.tokens, { expectedVersion: read.version })
      assert.match(yield* rawText(raw, "user-1"), /^v1\.2025-10\./)
      const newOnly = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [keyA] })
      const again = Option.getOrThrow(yield* newOnly.get("user-1"))
      assert.strictEqual(Redacted.value(again.tokens.accessToken), Redacted.value(written.accessToken))
    }))

  it.effect("a value sealed with a key id that is not configured is Corrupt, and the error names no secret (S26, S28)", () =>
    Effect.gen(function*() {
      const raw = yield* TokenStore.makeMemoryBackend
      const old = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [keyB] })
      const written = tokens()
      yield* old.set("user-1", written)
      const dropped = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [keyA] })
      const error = yield* Effect.flip(dropped.get("user-1"))
      assertCorrupt(error, "user-1")
      assert.include(error.message, "not configured")
      assertNoSecret(error, [...secretsOf(written), Redacted.value(keyA.key), Redacted.value(keyB.key)])
      // The record is kept for the key that can open it.
      assert.isTrue(Option.isSome(yield* old.get("user-1")))
    }))

  it.effect("another key under the same key id fails the tag check: Corrupt (S28)", () =>
    Effect.gen(function*() {
      const raw = yield* TokenStore.makeMemoryBackend
      const first = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [keyA] })
      const written = tokens()
      yield* first.set("user-1", written)
      const impostor = yield* EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [newKey(keyA.id)] })
      const error = yield* Effect.flip(impostor.get("user-1"))
      assertCorrupt(error, "user-1")
      assert.include(error.message, "integrity check")
      assertNoSecret(error, secretsOf(written))
    }))

  it.effect("tampering is detected: an altered ciphertext, IV or key id, or a plaintext record, is Corrupt (S28)", () =>
    Effect.gen(function*() {
      const { raw, store } = yield* stores([keyA, keyB])
      const written = tokens()
      const plaintext = yield* TokenStore.encodeText("x", written)
      const tamperings: ReadonlyArray<readonly [string, (sealed: string) => string]> = [
        ["ciphertext", flipLast],
        ["iv", (sealed) => {
          const parts = sealed.split(".")
          return [parts[0], parts[1], flipLast(parts[2] ?? ""), parts[3]].join(".")
        }],
        ["key id", (sealed) => sealed.replace(".2025-10.", ".2025-04.")],
        ["truncation", (sealed) => sealed.slice(0, sealed.length - 10)],
        ["plaintext", () => plaintext],
        ["version", (sealed) => sealed.replace(/^v1\./, "v2.")]
      ]
      for (const [label, tamper] of tamperings) {
        const key = `tampered-${label}`
        yield* store.set(key, written)
        yield* rewrite(raw, key, tamper)
        const error = yield* Effect.flip(store.get(key))
        assertCorrupt(error, key)
        assertNoSecret(error, secretsOf(written))
      }
    }))

  it.effect("the store key is bound as associated data: a sealed record moved to another key does not open", () =>
    Effect.gen(function*() {
      const { raw, store } = yield* stores([keyA])
      const written = tokens("ann")
      yield* store.set("ann", written)
      // The attacker copies Ann's sealed record under Bob's key.
      yield* raw.set("bob", yield* rawText(raw, "ann"))
      const moved = yield* Effect.flip(store.get("bob"))
      assertCorrupt(moved, "bob")
      assertNoSecret(moved, secretsOf(written))
      // Ann's own record still opens.
      assert.isTrue(Option.isSome(yield* store.get("ann")))
    }))

  it.effect("keys are checked when the store is made: InvalidConfig names the field, never the key material", () =>
    Effect.gen(function*() {
      const raw = yield* TokenStore.makeMemory
      const short = Redacted.make(randomBytes(16).toString("base64"))
      const cases: ReadonlyArray<readonly [EncryptedTokenStore.Options["keys"], string]> = [
        [[{ id: "k1", key: short }], "keys[0].key"],
        [[keyA, { id: "k2", key: Redacted.make("not base64 at all!") }], "keys[1].key"],
        [[keyA, { ...keyB, id: keyA.id }], "keys[1].id"],
        [[{ ...keyA, id: "has.dot" }], "keys[0].id"],
        [[{ ...keyA, id: "" }], "keys[0].id"]
      ]
      for (const [keys, field] of cases) {
        const error = yield* Effect.flip(EncryptedTokenStore.encrypt(raw, { keys }))
        assert.instanceOf(error, OAuthConfig.InvalidConfig)
        assert.strictEqual(error.field, field)
        assertNoSecret(error, [Redacted.value(short), Redacted.value(keyA.key), Redacted.value(keyB.key)])
      }
    }))

  it.effect("layerConfig reads OAUTH_STORE_KEYS as kid:base64,kid:base64 and wraps the store in context", () =>
    Effect.gen(function*() {
      const raw = yield* TokenStore.makeMemory
      const env = `${keyA.id}:${Redacted.value(keyA.key)}, ${keyB.id}:${Redacted.value(keyB.key)}`
      const layer = EncryptedTokenStore.layerConfig().pipe(
        Layer.provide(Layer.succeed(TokenStore.TokenStore, raw)),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["OAUTH_STORE_KEYS", env]]))))
      )
      const written = tokens()
      yield* Effect.provide(Effect.flatMap(TokenStore.TokenStore, (store) => store.set("user-1", written)), layer)
      assert.match(
        Option.getOrThrow(yield* Option.getOrThrow(Option.fromNullable(raw.backend)).get("user-1")).text,
        /^v1\.2025-10\./
      )

      const bad = EncryptedTokenStore.layerConfig().pipe(
        Layer.provide(Layer.succeed(TokenStore.TokenStore, raw)),
        Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["OAUTH_STORE_KEYS", "no-colon"]]))))
      )
      const error = yield* Effect.flip(Effect.provide(TokenStore.TokenStore, bad))
      assert.isTrue(ConfigError.isConfigError(error), "a malformed OAUTH_STORE_KEYS is not a ConfigError")
      assert.include(String(error), "is not \"<key id>:<base64 key>\"")
      assert.isTrue(Either.isLeft(EncryptedTokenStore.parseKeys(" , ")))
    }))
})

/** Writes raw text under a key of the memory store below the encryption. */
class RawWriter extends Context.Tag("test/EncryptedTokenStore/RawWriter")<
  RawWriter,
  (key: string, text: string) => Effect.Effect<void>
>() {}

const encryptedMemory = Layer.effectContext(
  Effect.gen(function*() {
    const raw = yield* TokenStore.makeMemoryBackend
    const store = yield* Effect.orDie(EncryptedTokenStore.encrypt(TokenStore.make(raw), { keys: [keyA, keyB] }))
    return Context.make(TokenStore.TokenStore, store).pipe(
      Context.add(RawWriter, (key, text) => Effect.asVoid(Effect.orDie(raw.set(key, text))))
    )
  })
)

TokenStoreSuite.run("EncryptedTokenStore over the memory store", encryptedMemory, {
  // A torn record: the sealed tokens are kept in the text, only cut short.
  corrupt: (key) =>
    Effect.gen(function*() {
      const write = yield* RawWriter
      yield* write(key, `{"accessToken":"v1.2025-10.${randomUUID()}`)
    })
})
