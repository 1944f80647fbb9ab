/**
 * Sign-in configuration read with `Config`: the cookie keys of `NodeSignIn.layerConfig`.
 *
 * @internal
 */
import type * as Arr from "effect/Array"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type { CookieKey } from "../NodeSignIn.js"

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
