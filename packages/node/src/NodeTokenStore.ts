/**
 * A `TokenStore` in one JSON file, shared safely by every process that opens the same path
 * (SPEC S17–S20, S26, S28, S29).
 *
 * ```ts
 * import { NodeTokenStore } from "@effect-oauth/node"
 *
 * const TokenStoreLive = NodeTokenStore.layerNode({ path: "~/.config/my-app/tokens.json" })
 * ```
 *
 * **The file.** One document holds every key:
 * `{ "format": "effect-oauth/token-store", "version": 1, "sequence": n, "records": { "<key>": { "version": n,
 * "record": "<record text>" } }, "leases": { "<key>": { "fence", "expiresAt", "pid", "host" } },
 * "waiters": { "<ticket>": { "key", "expiresAt", "pid", "host" } } }` (`waiters` may be absent).
 * `sequence` is the last version or fence handed out, so versions and fences grow across keys,
 * removals and processes; a new file starts it at the current time in milliseconds, so they keep
 * growing even after the file was removed. The directory is created (0700) when missing; `~` is the
 * home directory. The store is a backend of `TokenStore.make`: the record text is the core's.
 *
 * **Unsafe files (S41).** Before every read and write, the token file and its directory must be this
 * user's own, not symbolic links, and not writable by group or others; otherwise the operation fails
 * with `TokenStoreError` (reason `"Unavailable"`, naming the path and why) and nothing is read or written.
 *
 * **Atomic writes (S29).** Every write builds the whole document, writes it to a fresh temp file in
 * the same directory (`.<name>.<pid>.<random>.tmp`, created `O_EXCL` with mode 0600), fsyncs it,
 * renames it over the file and fsyncs the directory. A process killed at any moment leaves the old
 * document or the new one, never a torn one, and the file is always mode 0600. Temp files of killed
 * writers are ignored, and removed by the next store started once they are older than `staleTempAge`.
 *
 * **Corruption (S28, S29).** A file that is not such a document (torn by something else, edited by
 * hand, truncated, too large) makes every operation fail with `TokenStoreError` reason `"Corrupt"`,
 * and the file is kept byte for byte: nothing overwrites it. To recover, move the file away or remove
 * it (the users then sign in again). A single record that does not decode is `"Corrupt"` for `get`
 * of its key only; `set` without `expectedVersion` replaces it and `remove` removes it, as in every store.
 * Errors name the path and the problem, never the content.
 *
 * **Concurrency (S20).** Two kinds of lock, so that nothing can deadlock:
 *
 * - The *file mutex* `<path>.lock` guards each read-modify-write of the document (every `set`,
 *   `remove`, lock take and lock release), for the milliseconds it lasts, so compare-and-set writes of
 *   two processes never lose an update. It is a lock file holding `{ pid, host, id, expiresAt }`,
 *   created whole (written to an `O_EXCL` temp file, then hard-linked to `<path>.lock`, which fails if
 *   it exists) with a short lease (`mutexLease`). Waiters poll on a jittered exponential `Schedule`
 *   from 2 ms up to `pollInterval`. A lock file is stale when its lease ran out, when `maxLease` has
 *   passed since this process first saw it (a far-future lease from another host, a clock jump, S42),
 *   or when its owner is a dead process of this host (same host name and pid namespace); it is taken over by renaming it to a private name and
 *   comparing what was moved with what was judged stale (if a new holder's lock was moved instead, it
 *   is put back), so two processes never both take one stale lock over. The holder checks that the
 *   lock file is still its own, with lease to spare, right before it renames the new document into
 *   place, and fails with reason `"LockLost"` otherwise. Fibers of one store take the mutex one at a
 *   time through an in-process semaphore, so they never poll for each other.
 * - The *key locks* of `lock(key, { lease })` are leases stored in the document (`leases`), taken and
 *   freed under the file mutex, with a fence from `sequence`. Keys are independent. Holding a key lock
 *   holds no file lock, so a holder can `set` and `remove` freely. Waiters are served in arrival order
 *   across stores and processes (S47): fibers of one store queue in memory (`TokenStore.makeLockTable`)
 *   and are handed the key at once on release; the one in front, finding the key held, takes a ticket
 *   in the document's waiting line (`waiters`, numbered from `sequence`) and takes the lock only when
 *   it is free and no live ticket of the key is before its own. A waiter renews its ticket every 0.5 s;
 *   a ticket lapses 1.5 s after its last renewal, and one of a dead process of this host counts for
 *   nothing at once. Waiters look again when `fs.watch` reports a change of the token or lock file,
 *   and in any case on a jittered exponential back-off from 5 ms up to `pollInterval` (the watcher may
 *   miss events; the poll does not). Leases are at most `maxLease`; with
 *   `renew: true` the holder renews its lease every third of it while the lock's scope is open (S45).
 *   A lock dies with its holder: at the end of its lease, or at once when its holder is a dead process
 *   of this host. Releasing (at once when the scope closes; retried in the background if it fails)
 *   removes the lease only if it still has the holder's fence.
 *
 * Reads take no lock: a rename is atomic, so a reader sees one whole document. Leases and expiry use
 * the `Clock` service, which must be the live clock: processes compare each other's leases.
 *
 * Limits: the file needs a filesystem with hard links and atomic rename (any local POSIX filesystem;
 * NFS works). Every write rewrites the whole file and costs two fsyncs (about 10 ms on a typical
 * disk): this store suits the tokens of a CLI, a desktop app or a few server processes on one host,
 * not thousands of users; use a database store for those.
 *
 * @since 0.1.0
 */
import * as TokenStore from "@effect-oauth/core/TokenStore"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import type * as FileSystem from "@effect/platform/FileSystem"
import type * as Path from "@effect/platform/Path"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/nodeTokenStore.js"

/**
 * @example
 * ```ts
 * import { NodeTokenStore } from "@effect-oauth/node"
 *
 * const options: NodeTokenStore.Options = {
 *   path: "~/.config/my-app/tokens.json",
 *   pollInterval: "20 millis",
 *   maxLease: "2 minutes"
 * }
 * const TokenStoreLive = NodeTokenStore.layerNode(options)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The token file, e.g. `~/.config/my-app/tokens.json`; its lock file is `<path>.lock`. */
  readonly path: string
  /** The longest wait between two looks at a lock held elsewhere (default 50 ms). */
  readonly pollInterval?: Duration.DurationInput | undefined
  /**
   * The lease of the file mutex held during one write (default 10 seconds): how long a holder that
   * hangs, or died on another host, blocks the writers of other processes.
   */
  readonly mutexLease?: Duration.DurationInput | undefined
  /**
   * The largest lease this store grants (default 10 minutes), key locks and file mutex alike: a
   * longer lease asked for is cut to it (a holder keeps its lock by renewing it), and a lock record
   * with a longer one (another host, a clock jump, a corrupt file) counts as stale once this much
   * time has passed since it was first seen (S42).
   */
  readonly maxLease?: Duration.DurationInput | undefined
  /** The largest token file read, in bytes (default 64 MiB); a larger file is corrupt (S28). */
  readonly maxFileSize?: number | undefined
  /** Temp files left by killed writers are removed at start once this old (default 10 minutes). */
  readonly staleTempAge?: Duration.DurationInput | undefined
}

/**
 * A file store on `FileSystem` and `Path`. Building it removes stale temp files; it never fails: an
 * unreadable, unsafe or corrupt file is reported by the operations. Its scope bounds the background
 * work of its locks (lease renewals, retried releases).
 *
 * @example
 * ```ts
 * import { NodeTokenStore } from "@effect-oauth/node"
 * import { NodeFileSystem, NodePath } from "@effect/platform-node"
 * import { Effect, Layer, Option } from "effect"
 * import { mkdtempSync, rmSync } from "node:fs"
 * import { tmpdir } from "node:os"
 * import { join } from "node:path"
 *
 * const dir = mkdtempSync(join(tmpdir(), "tokens-"))
 * const program = Effect.gen(function*() {
 *   const store = yield* NodeTokenStore.make({ path: join(dir, "tokens.json") })
 *   return yield* store.get("user-1")
 * }).pipe(Effect.scoped, Effect.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
 * assert.ok(Option.isNone(await Effect.runPromise(program)))
 * rmSync(dir, { recursive: true, force: true })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const make: (
  options: Options
) => Effect.Effect<TokenStore.Service, never, FileSystem.FileSystem | Path.Path | Scope.Scope> = internal.make

/**
 * @example
 * ```ts
 * import { NodeTokenStore } from "@effect-oauth/node"
 * import { NodeFileSystem, NodePath } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * // What `layerNode` does; provide another `FileSystem` (say, a test one) the same way.
 * const TokenStoreLive = NodeTokenStore.layer({ path: "~/.config/my-app/tokens.json" }).pipe(
 *   Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options
): Layer.Layer<TokenStore.TokenStore, never, FileSystem.FileSystem | Path.Path> =>
  Layer.scoped(TokenStore.TokenStore, make(options))

/**
 * The file store with Node's `FileSystem` and `Path`.
 *
 * @example
 * ```ts
 * import { AccessTokens } from "@effect-oauth/core"
 * import { NodeOAuth, NodeTokenStore } from "@effect-oauth/node"
 * import { Layer, Redacted } from "effect"
 *
 * // A CLI's tokens survive restarts; processes of the same user share the file.
 * const TokensLive = AccessTokens.layer().pipe(
 *   Layer.provideMerge(NodeTokenStore.layerNode({ path: "~/.config/my-app/tokens.json" })),
 *   Layer.provideMerge(NodeOAuth.layerCredal({
 *     clientId: "my-client-id",
 *     clientSecret: Redacted.make("my-client-secret"),
 *     redirectUri: "http://127.0.0.1:3000/callback"
 *   }))
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerNode = (options: Options): Layer.Layer<TokenStore.TokenStore> =>
  layer(options).pipe(Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))

/**
 * The file store with its options from configuration, e.g.
 * `NodeTokenStore.layerConfig({ path: Config.string("TOKEN_FILE") })`.
 *
 * @example
 * ```ts
 * import { NodeTokenStore } from "@effect-oauth/node"
 * import { NodeFileSystem, NodePath } from "@effect/platform-node"
 * import { Config, Layer } from "effect"
 *
 * const TokenStoreLive = NodeTokenStore.layerConfig({
 *   path: Config.string("TOKEN_FILE").pipe(Config.withDefault("~/.config/my-app/tokens.json")),
 *   maxLease: Config.succeed("5 minutes")
 * }).pipe(Layer.provide(Layer.merge(NodeFileSystem.layer, NodePath.layer)))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config.Wrap<Options>
): Layer.Layer<TokenStore.TokenStore, ConfigError.ConfigError, FileSystem.FileSystem | Path.Path> =>
  Layer.unwrapEffect(Effect.map(Config.unwrap(options), layer))
