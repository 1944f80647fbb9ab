/**
 * `pnpm demo:cli`: a command-line sign-in through the browser (RFC 8252 loopback redirect) with
 * `NodeLoopbackLogin`, then one API call with the stored tokens.
 *
 * By default it starts a mock of Credal in this process on 127.0.0.1, registers
 * `http://127.0.0.1:<port>/callback` with it (a free port picked first) and prints the URL to open; the
 * mock's consent page signs in whoever you type. With `--auto` it answers the consent page itself (GET the
 * page, POST its form with "Approve", follow the redirect to the callback), so it runs unattended.
 * With `OAUTH_*` variables (see `OAuthConfig.fromEnv`) it signs in with the real provider instead; the
 * loopback port and path then come from `OAUTH_REDIRECT_URI`.
 *
 * Then it saves the tokens in a token file (`TOKEN_FILE`, default `<tmpdir>/effect-oauth-cli-login/tokens.json`,
 * mode 0600), calls `GET /whoami` through `OAuthHttpClient` and prints the answer. It never prints a token.
 *
 * | variable | default |
 * | --- | --- |
 * | `TOKEN_FILE` | `<tmpdir>/effect-oauth-cli-login/tokens.json` |
 * | `TOKEN_KEY` | `cli` (the key the tokens are saved under) |
 * | `MOCK_USER` | `ada` (who `--auto` signs in as) |
 * | `API_BASE_URL` | the mock's, or `https://app.credal.ai/api/v1` with `OAUTH_*` |
 */
import { AccessTokens, OAuthConfig, OAuthHttpClient } from "@effect-oauth/core"
import { NodeLoopbackLogin, NodeOAuth, NodeTokenStore } from "@effect-oauth/node"
import * as FakeAuthorizationServer from "@effect-oauth/testing/FakeAuthorizationServer"
import { formFields } from "@effect-oauth/testing/FakeAuthorizationServerHttp"
import * as NodeFakeAuthorizationServer from "@effect-oauth/testing/NodeFakeAuthorizationServer"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import * as HttpClientResponse from "@effect/platform/HttpClientResponse"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Crypto from "node:crypto"
import * as Net from "node:net"
import * as Os from "node:os"
import * as Path from "node:path"

/** The command cannot go on: the message says why and what to do. */
class CliError extends Schema.TaggedError<CliError>()("CliError", { reason: Schema.String }) {
  override get message(): string {
    return this.reason
  }
}

const Whoami = Schema.Struct({ user: Schema.String, clientId: Schema.optional(Schema.String) })

/** A port on 127.0.0.1 that is free now (the system picks it; the listener is closed at once). */
const freePort = Effect.async<number, CliError>((resume) => {
  const server = Net.createServer()
  server.once("error", () => resume(Effect.fail(new CliError({ reason: "Could not find a free port on 127.0.0.1." }))))
  server.listen(0, "127.0.0.1", () => {
    const address = server.address()
    const port = typeof address === "object" && address !== null ? address.port : 0
    server.close(() => resume(Effect.succeed(port)))
  })
})

const unescapeHtml = (text: string): string =>
  text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))

/**
 * What a person does on the mock's consent page, done over HTTP: GET the page, POST its form (the hidden
 * fields, the user name, "Approve") to the form's action, then follow the redirect to the loopback callback.
 */
const approve = (http: HttpClient.HttpClient, authorizationUrl: URL, user: string) =>
  Effect.gen(function*() {
    const shown = yield* http.get(authorizationUrl)
    if (shown.status !== 200) {
      return yield* new CliError({ reason: `The consent page answered HTTP ${shown.status}.` })
    }
    const page = yield* shown.text
    const action = /<form method="post" action="([^"]*)">/.exec(page)?.[1]
    if (action === undefined) return yield* new CliError({ reason: "The consent page has no form." })
    const form = new URLSearchParams(
      Array.from(
        page.matchAll(/<input type="hidden" name="([^"]*)" value="([^"]*)">/g),
        ([, name = "", value = ""]) => [unescapeHtml(name), unescapeHtml(value)]
      )
    )
    form.set(formFields.user, user)
    form.set(formFields.decision, "approve")
    const decided = yield* http.execute(
      HttpClientRequest.post(new URL(unescapeHtml(action), authorizationUrl)).pipe(
        HttpClientRequest.bodyUrlParams(form)
      )
    )
    const location = decided.headers["location"]
    if (decided.status !== 302 || location === undefined) {
      return yield* new CliError({ reason: `Approving answered HTTP ${decided.status} without a redirect.` })
    }
    // The browser would follow the redirect to this program's loopback listener.
    const callback = yield* http.get(location)
    if (callback.status !== 200) {
      return yield* new CliError({ reason: `The loopback callback answered HTTP ${callback.status}.` })
    }
  }).pipe(
    Effect.catchTags({
      RequestError: (error) =>
        new CliError({ reason: `--auto could not reach ${error.request.url}: ${error.reason}.` }),
      ResponseError: (error) => new CliError({ reason: `--auto could not read an answer: ${error.reason}.` })
    })
  )

/** The mock in this process, with this program registered for `http://127.0.0.1:<port>/callback`. */
const startMock = (port: number, user: string) =>
  Effect.gen(function*() {
    const redirectUri = `http://127.0.0.1:${port}/callback`
    const client: FakeAuthorizationServer.Client = {
      clientId: "effect-oauth-cli-login",
      clientSecret: Crypto.randomBytes(32).toString("base64url"),
      redirectUris: [redirectUri],
      authMethods: ["client_secret_post"]
    }
    const context = yield* Layer.build(NodeFakeAuthorizationServer.layer({
      server: { clients: [client], defaultUser: user }
    }))
    const urls = Context.get(context, FakeAuthorizationServer.FakeAuthorizationServer).endpoints
    const oauth = OAuthConfig.credal({
      clientId: client.clientId,
      clientSecret: Redacted.make(client.clientSecret),
      redirectUri,
      authorizationEndpoint: urls.authorization,
      tokenEndpoint: urls.token,
      revocationEndpoint: urls.revocation,
      issuer: urls.issuer
    })
    yield* Console.log(`Mock Credal is running in this process at ${urls.issuer}.`)
    return { oauth, apiBaseUrl: urls.apiBase, port, callbackPath: "/callback" as const }
  })

/** The real provider from `OAUTH_*`: the loopback port and path come from its redirect URI. */
const remote = Effect.gen(function*() {
  const oauth = yield* OAuthConfig.fromEnv
  const redirect = new URL(oauth.redirectUri)
  if (redirect.protocol !== "http:" || redirect.hostname !== "127.0.0.1" || redirect.port === "") {
    return yield* new CliError({
      reason: "OAUTH_REDIRECT_URI must be http://127.0.0.1:<port>/<path> for a loopback sign-in (RFC 8252 §7.3)."
    })
  }
  const callbackPath = redirect.pathname
  return {
    oauth,
    apiBaseUrl: yield* Config.withDefault(Config.string("API_BASE_URL"), OAuthConfig.credalEndpoints.apiBaseUrl),
    port: Number(redirect.port),
    callbackPath: callbackPath.startsWith("/") ? callbackPath as `/${string}` : "/callback" as const
  }
})

const program = Effect.gen(function*() {
  const auto = process.argv.slice(2).includes("--auto")
  const tokenFile = yield* Config.withDefault(
    Config.nonEmptyString("TOKEN_FILE"),
    Path.join(Os.tmpdir(), "effect-oauth-cli-login", "tokens.json")
  )
  const key = yield* Config.withDefault(Config.nonEmptyString("TOKEN_KEY"), "cli")
  const user = yield* Config.withDefault(Config.nonEmptyString("MOCK_USER"), "ada")
  const useRemote = Option.isSome(yield* Config.option(Config.string("OAUTH_CLIENT_ID")))
  if (useRemote && auto) {
    return yield* new CliError({ reason: "--auto approves on the embedded mock only; run without OAUTH_* variables." })
  }
  const setup = useRemote ? yield* remote : yield* Effect.flatMap(freePort, (port) => startMock(port, user))

  const services = yield* Layer.build(
    AccessTokens.layer().pipe(
      Layer.provideMerge(NodeTokenStore.layerNode({ path: tokenFile })),
      Layer.provideMerge(NodeOAuth.layer(setup.oauth)),
      Layer.provideMerge(NodeOAuth.layerHttpClient)
    )
  )
  const http = Context.get(services, HttpClient.HttpClient)

  const shown = yield* Deferred.make<URL>()
  const login = NodeLoopbackLogin.login({
    key,
    port: setup.port,
    callbackPath: setup.callbackPath,
    timeout: auto ? Duration.seconds(30) : Duration.minutes(5),
    onUrl: (url) =>
      Effect.zipRight(
        Console.log(
          ["", "Open this URL in a browser to sign in:", "", `  ${url.href}`, "", "Waiting for the browser…"].join("\n")
        ),
        Deferred.succeed(shown, url)
      )
  })
  const approval = auto
    ? Effect.flatMap(Deferred.await(shown), (url) =>
      Effect.zipRight(
        Console.log(`--auto: approving as "${user}" on the mock's consent page.`),
        approve(http, url, user)
      ))
    : Effect.void
  yield* Effect.all([login, approval], { concurrency: 2, discard: true }).pipe(Effect.provide(services))
  yield* Console.log(`Signed in. Tokens saved under the key "${key}" in ${tokenFile} (mode 0600).`)

  const who = yield* OAuthHttpClient.make(key).pipe(
    Effect.map(HttpClient.filterStatusOk),
    Effect.flatMap((client) => client.get(`${setup.apiBaseUrl}/whoami`)),
    Effect.flatMap(HttpClientResponse.schemaBodyJson(Whoami)),
    Effect.provide(services)
  )
  yield* Console.log(`whoami: ${JSON.stringify(who)}`)
})

/** Failures go to stderr as one sentence (a defect with its trace); Ctrl-C prints nothing. */
const reported = Effect.tapErrorCause(Effect.scoped(program), (cause) =>
  Cause.isInterruptedOnly(cause)
    ? Effect.void
    : Option.match(Cause.failureOption(cause), {
      onNone: () => Console.error(Cause.pretty(cause)),
      onSome: (error) =>
        Console.error(`cli-login: ${Predicate.hasProperty(error, "message") ? String(error.message) : String(error)}`)
    }))

NodeRuntime.runMain(reported, { disableErrorReporting: true })
