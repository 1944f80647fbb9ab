/**
 * Sign a command-line program in with the user's browser (RFC 8252 §7.3): listen on 127.0.0.1, send
 * the user to the authorization URL whose `redirect_uri` is `http://127.0.0.1:<port>/callback`, wait
 * for the callback, exchange the code once, answer the browser with a small page and close the server.
 *
 * Only a `GET` of the callback path with this sign-in's `state` ends the wait (successfully or not);
 * anything else (a favicon, another path, another state) is answered and ignored.
 *
 * @since 0.1.0
 */
import { AccessTokens, OAuthClient } from "@effect-oauth/core"
import type { OAuthError, TokenSet } from "@effect-oauth/core"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Ref from "effect/Ref"
import * as Schema from "effect/Schema"
import * as Http from "node:http"
import { failureAnnotations } from "./internal/signIn.js"
import { constantTimeEqual } from "./internal/signInCrypto.js"
import * as Pages from "./internal/signInPages.js"

/**
 * The loopback login could not finish: no callback arrived in time (`Timeout`), the port is taken
 * (`PortInUse`), or the listener could not start (`ListenFailed`).
 *
 * @example
 * ```ts
 * import { NodeLoopbackLogin } from "@effect-oauth/node"
 * import { Console, Effect } from "effect"
 *
 * // A second try on a free port when the fixed one is taken.
 * const program = NodeLoopbackLogin.login({ port: 8765 }).pipe(
 *   Effect.catchTag("LoopbackLoginError", (error) =>
 *     error.reason === "PortInUse"
 *       ? Effect.zipRight(Console.error(error.message), NodeLoopbackLogin.login({ port: 0 }))
 *       : Effect.fail(error))
 * )
 * const error = new NodeLoopbackLogin.LoopbackLoginError({ reason: "PortInUse", port: 8765 })
 * assert.strictEqual(error.message, "Port 8765 on 127.0.0.1 is already in use; close what uses it or choose another port.")
 * ```
 *
 * @since 0.1.0
 * @category errors
 */
export class LoopbackLoginError extends Schema.TaggedError<LoopbackLoginError>(
  "@effect-oauth/node/LoopbackLoginError"
)("LoopbackLoginError", {
  reason: Schema.Literal("Timeout", "PortInUse", "ListenFailed"),
  port: Schema.optional(Schema.Number)
}) {
  /**
   * @since 0.1.0
   */
  override get message(): string {
    switch (this.reason) {
      case "Timeout":
        return "No sign-in arrived from the browser in time. Run the command again to get a new sign-in link."
      case "PortInUse":
        return `Port ${this.port ?? "?"} on 127.0.0.1 is already in use; close what uses it or choose another port.`
      case "ListenFailed":
        return `Could not listen on 127.0.0.1${
          this.port === undefined ? "" : `:${this.port}`
        } for the sign-in callback.`
    }
  }
}

/**
 * @example
 * ```ts
 * import { NodeLoopbackLogin } from "@effect-oauth/node"
 * import { Console } from "effect"
 *
 * // The redirect URI registered with the provider is then http://127.0.0.1:8765/oauth/callback.
 * const options: NodeLoopbackLogin.Options = {
 *   port: 8765,
 *   callbackPath: "/oauth/callback",
 *   timeout: "2 minutes",
 *   onUrl: (url) => Console.log(`Sign in at ${url}`),
 *   params: { prompt: "login" },
 *   key: "cli-user"
 * }
 * const program = NodeLoopbackLogin.login({ ...options, key: "cli-user" })
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** The port on 127.0.0.1; default 0, a free port chosen by the system. */
  readonly port?: number | undefined
  /** Default `/callback`. */
  readonly callbackPath?: `/${string}` | undefined
  /** How long to wait for the browser; default 5 minutes. */
  readonly timeout?: Duration.DurationInput | undefined
  /**
   * Shows the authorization URL to the user; default: printed on standard output with `Console.log`, not
   * logged, because the URL carries the state (SPEC S26). It also carries the
   * PKCE challenge, never a token. It should return promptly: the wait starts after it.
   */
  readonly onUrl?: ((url: URL) => Effect.Effect<void>) | undefined
  /** Opens a browser at the URL, in the background; a failure is logged and the login goes on. */
  readonly openBrowser?: ((url: URL) => Effect.Effect<void, unknown>) | undefined
  /** Overrides the configured scopes. */
  readonly scopes?: ReadonlyArray<string> | undefined
  /** Extra authorization parameters (`prompt`, `login_hint`…). */
  readonly params?: Readonly<Record<string, string>> | undefined
  /** Saves the tokens under this `AccessTokens` key. */
  readonly key?: string | undefined
}

/**
 * What a login can fail with, besides `TokenStoreError` when the tokens are saved.
 *
 * @example
 * ```ts
 * import { NodeLoopbackLogin } from "@effect-oauth/node"
 * import { Console, Effect } from "effect"
 *
 * // Every way a login can go wrong, explained to the user.
 * const explain = (error: NodeLoopbackLogin.LoginError) => Console.error(error.message)
 * const program = NodeLoopbackLogin.login().pipe(Effect.tapError(explain))
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export type LoginError = LoopbackLoginError | OAuthClient.CallbackError | OAuthClient.ExchangeError

const isAddressInUse = (cause: unknown): boolean => Predicate.hasProperty(cause, "code") && cause.code === "EADDRINUSE"

const closeTab = "You can close this tab and return to the terminal."

const respond = (status: number, title: string, message: string, tag?: string) =>
  HttpServerResponse.text(Pages.page({ title, message, tag }), {
    status,
    contentType: "text/html; charset=utf-8",
    headers: { ...Pages.pageHeaders, connection: "close" }
  })

const run = (
  options: Options
): Effect.Effect<
  TokenSet.TokenSet,
  LoginError | OAuthError.TokenStoreError,
  OAuthClient.OAuthClient | AccessTokens.AccessTokens
> =>
  Effect.scoped(Effect.gen(function*() {
    const oauth = yield* OAuthClient.OAuthClient
    const key = options.key
    const save = key === undefined
      ? (_: TokenSet.TokenSet) => Effect.void
      : yield* Effect.map(AccessTokens.AccessTokens, (tokens) => (set: TokenSet.TokenSet) => tokens.save(key, set))
    const callbackPath = options.callbackPath ?? "/callback"

    const server = yield* NodeHttpServer.make(() => Http.createServer(), { host: "127.0.0.1", port: options.port ?? 0 })
      .pipe(
        Effect.mapError((error) =>
          new LoopbackLoginError({
            reason: isAddressInUse(error.cause) ? "PortInUse" : "ListenFailed",
            ...(options.port === undefined ? {} : { port: options.port })
          })
        )
      )
    const port = server.address._tag === "TcpAddress" ? server.address.port : 0
    const origin = `127.0.0.1:${port}`
    const redirectUri = `http://${origin}${callbackPath}`
    const { pending, url } = yield* oauth.authorize({
      redirectUri,
      ...(options.scopes === undefined ? {} : { scopes: options.scopes }),
      ...(options.params === undefined ? {} : { params: options.params })
    })

    const done = yield* Deferred.make<TokenSet.TokenSet, LoginError | OAuthError.TokenStoreError>()
    const claimed = yield* Ref.make(false)

    const app = Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      // Only requests addressed to this listener by its IP literal (no DNS rebinding).
      const target = new URL(request.url, redirectUri)
      if (request.headers["host"] !== origin || target.pathname !== callbackPath) {
        return respond(404, "Not found", "There is nothing here.")
      }
      if (request.method !== "GET") return respond(405, "Method not allowed", "The callback is a GET request.")
      const states = target.searchParams.getAll("state")
      if (states.length !== 1 || !constantTimeEqual(states[0] ?? "", Redacted.value(pending.state))) {
        return respond(
          400,
          "This request does not belong to the sign-in in progress",
          "Use the sign-in link the command printed most recently."
        )
      }
      if (yield* Ref.getAndSet(claimed, true)) {
        return respond(409, "This sign-in was already handled", closeTab)
      }
      const result = yield* Effect.either(Effect.tap(oauth.complete(target.searchParams, pending), save))
      yield* Deferred.complete(done, result)
      if (Either.isRight(result)) {
        yield* Effect.logDebug("sign-in completed").pipe(
          Effect.annotateLogs(key === undefined ? {} : { "oauth.key": key })
        )
        return respond(200, "You are signed in", closeTab)
      }
      const failure = Pages.describe(result.left, "")
      yield* Effect.logWarning("sign-in failed").pipe(Effect.annotateLogs(failureAnnotations(failure)))
      return respond(failure.status, failure.title, `${failure.message} ${closeTab}`, failure.tag)
    }).pipe(Effect.uninterruptible)

    yield* server.serve(app)
    yield* Effect.logDebug("sign-in started").pipe(Effect.annotateLogs("oauth.port", port))
    // The URL carries the state, so by default it goes to the terminal, not to the logs (SPEC S26).
    yield* (options.onUrl ?? ((url: URL) => Console.log(`Open this URL in a browser to sign in:\n${url.href}`)))(url)
    if (options.openBrowser !== undefined) {
      yield* Effect.forkScoped(
        options.openBrowser(url).pipe(
          Effect.catchAllCause((cause) =>
            Cause.isInterruptedOnly(cause)
              ? Effect.failCause(cause)
              : Effect.logWarning("Could not open a browser; open the sign-in URL yourself.")
          )
        )
      )
    }
    return yield* Deferred.await(done).pipe(
      Effect.timeoutFail({
        duration: Duration.decode(options.timeout ?? Duration.minutes(5)),
        onTimeout: () => new LoopbackLoginError({ reason: "Timeout", port })
      })
    )
  }))

/**
 * Signs the user in through a browser and a loopback redirect; saves the tokens under `options.key`
 * when given.
 *
 * @example
 * ```ts
 * import { NodeLoopbackLogin } from "@effect-oauth/node"
 * import { Console, Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const tokens = yield* NodeLoopbackLogin.login({ key: "cli-user", onUrl: (url) => Console.log(`Open ${url}`) })
 *   return tokens.expiresAt
 * })
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export function login(
  options: Options & { readonly key: string }
): Effect.Effect<
  TokenSet.TokenSet,
  LoginError | OAuthError.TokenStoreError,
  OAuthClient.OAuthClient | AccessTokens.AccessTokens
>
export function login(
  options?: Options & { readonly key?: undefined }
): Effect.Effect<TokenSet.TokenSet, LoginError, OAuthClient.OAuthClient>
export function login(
  options?: Options
): Effect.Effect<
  TokenSet.TokenSet,
  LoginError | OAuthError.TokenStoreError,
  OAuthClient.OAuthClient | AccessTokens.AccessTokens
>
export function login(
  options: Options = {}
): Effect.Effect<
  TokenSet.TokenSet,
  LoginError | OAuthError.TokenStoreError,
  OAuthClient.OAuthClient | AccessTokens.AccessTokens
> {
  return run(options)
}
