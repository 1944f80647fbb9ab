/**
 * Sign-in configuration read with `Config`: the cookie keys and origins of `NodeSignIn.layerConfig`.
 *
 * @internal
 */
import type { OAuthConfig } from "@effect-oauth/core"
import type * as Arr from "effect/Array"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type { ConfigOptions, CookieKey } from "../NodeSignIn.js"
import * as SignIn from "./signIn.js"

/** @internal */
export const cookieKeysConfig = (
  name: string = "OAUTH_COOKIE_KEYS"
): Config.Config<Arr.NonEmptyReadonlyArray<CookieKey>> =>
  Config.mapOrFail(Config.redacted(name), (value) => {
    const text = Redacted.value(value).trim()
    const entries = text.includes(":") ? text.split(",").map((entry) => entry.trim()) : [`default:${text}`]
    const keys: Array<CookieKey> = []
    for (const entry of entries) {
      const colon = entry.indexOf(":")
      if (colon <= 0 || colon === entry.length - 1) {
        return Either.left(
          ConfigError.InvalidData([name], "must be id:secret entries separated by commas (the secret is not shown)")
        )
      }
      keys.push({ id: entry.slice(0, colon), secret: Redacted.make(entry.slice(colon + 1)) })
    }
    const [first, ...rest] = keys
    return first === undefined
      ? Either.left(ConfigError.InvalidData([name], "must hold at least one key"))
      : Either.right([first, ...rest])
  })

/** `SignIn.make` with the cookie keys (by default `OAUTH_COOKIE_KEYS`) and origins read from `Config`. */
export const makeConfig = <E, R>(
  options: ConfigOptions<E, R>
): Effect.Effect<SignIn.Service, OAuthConfig.InvalidConfig | ConfigError.ConfigError, SignIn.MakeRequirements<R>> =>
  Effect.gen(function*() {
    const cookieKeys = yield* (options.cookieKeys ?? cookieKeysConfig())
    const origins = options.origins === undefined ? undefined : yield* options.origins
    return yield* SignIn.make({ ...options, cookieKeys, origins })
  })
