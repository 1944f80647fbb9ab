/**
 * The token endpoint's success response as it travels on the wire (RFC 6749 §5.1), validated strictly
 * (SPEC S13–S15): a non-empty `access_token`, `token_type` Bearer in any case, a non-negative integer
 * `expires_in` (a numeric string is accepted). Unknown fields are ignored.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Text from "./internal/text.js"
import { InvalidTokenResponse } from "./OAuthError.js"

/**
 * `expires_in`: a non-negative integer, or a string of decimal digits.
 *
 * @example
 * ```ts
 * import { TokenResponse } from "@effect-oauth/core"
 * import { Schema } from "effect"
 *
 * const decode = Schema.decodeUnknownSync(TokenResponse.ExpiresIn)
 * assert.strictEqual(decode(3600), 3600)
 * assert.strictEqual(decode("3600"), 3600)
 * assert.throws(() => decode(-1))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const ExpiresIn: Schema.Schema<number, number | string> = Schema.Union(
  Schema.NonNegativeInt,
  Schema.compose(
    Schema.String.pipe(Schema.pattern(/^[0-9]{1,15}$/)),
    Schema.NumberFromString
  ).pipe(Schema.compose(Schema.NonNegativeInt))
).annotations({ identifier: "ExpiresIn" })

/**
 * `token_type`: Bearer, compared without regard to case and normalised to `"Bearer"`.
 *
 * @example
 * ```ts
 * import { TokenResponse } from "@effect-oauth/core"
 * import { Schema } from "effect"
 *
 * const decode = Schema.decodeUnknownSync(TokenResponse.BearerTokenType)
 * assert.strictEqual(decode("bearer"), "Bearer")
 * assert.throws(() => decode("mac"))
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const BearerTokenType: Schema.Schema<"Bearer", string> = Schema.transformOrFail(
  Schema.String,
  Schema.Literal("Bearer"),
  {
    strict: true,
    decode: (value, _, ast) =>
      value.toLowerCase() === "bearer"
        ? ParseResult.succeed("Bearer" as const)
        : ParseResult.fail(new ParseResult.Type(ast, value, "token_type must be Bearer")),
    encode: (value) => ParseResult.succeed(value)
  }
).annotations({ identifier: "BearerTokenType" })

const Token = Schema.Redacted(Schema.String.pipe(Schema.minLength(1)))

/**
 * @example
 * ```ts
 * import { TokenResponse } from "@effect-oauth/core"
 * import { Redacted, Schema } from "effect"
 *
 * const response = Schema.decodeUnknownSync(TokenResponse.TokenResponse)({
 *   access_token: "at-1",
 *   token_type: "Bearer",
 *   expires_in: 3600,
 *   refresh_token: "rt-1"
 * })
 * assert.strictEqual(Redacted.value(response.access_token), "at-1")
 * assert.strictEqual(String(response.access_token), "<redacted>")
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export class TokenResponse extends Schema.Class<TokenResponse>("@effect-oauth/core/TokenResponse")({
  access_token: Token,
  token_type: BearerTokenType,
  expires_in: Schema.optional(ExpiresIn),
  refresh_token: Schema.optional(Token),
  scope: Schema.optional(Schema.String),
  /** The OpenID Connect ID Token, a JWT (OpenID Connect Core §3.1.3.3); validated by `@effect-oauth/oidc`. */
  id_token: Schema.optional(Token)
}) {}

/**
 * Decodes a parsed JSON body. The error names the offending fields but never shows a value, because
 * the body may hold secrets, and is formatted in bounded time and stack for any input (SPEC S34).
 *
 * @example
 * ```ts
 * import { TokenResponse } from "@effect-oauth/core"
 * import { Effect, Either } from "effect"
 *
 * const ok = Effect.runSync(Effect.either(TokenResponse.decode({ access_token: "at-1", token_type: "bearer" })))
 * assert.ok(Either.isRight(ok))
 *
 * // The error names the fields, never their values.
 * const bad = Effect.runSync(Effect.flip(TokenResponse.decode({ access_token: "", token_type: "mac" })))
 * assert.deepStrictEqual(bad.issues, ["access_token is invalid", "token_type is invalid"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const decode = (body: unknown): Effect.Effect<TokenResponse, InvalidTokenResponse> =>
  Schema.decodeUnknown(TokenResponse)(body, { errors: "all", onExcessProperty: "ignore" }).pipe(
    Effect.mapError((error) => new InvalidTokenResponse({ issues: Text.parseIssues(error, "body") }))
  )

/**
 * The scopes of a space-delimited `scope` value (RFC 6749 §3.3).
 *
 * @example
 * ```ts
 * import { TokenResponse } from "@effect-oauth/core"
 * import { Option } from "effect"
 *
 * assert.deepStrictEqual(TokenResponse.parseScope("read  write"), Option.some(["read", "write"]))
 * assert.deepStrictEqual(TokenResponse.parseScope(undefined), Option.none())
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const parseScope = (scope: string | undefined): Option.Option<ReadonlyArray<string>> =>
  scope === undefined ? Option.none() : Option.some(scope.split(" ").filter((s) => s.length > 0))

const knownFields = new Set(["access_token", "token_type", "expires_in", "refresh_token", "scope", "id_token"])
const unsafeKeys = new Set(["__proto__", "constructor", "prototype"])

/** The largest JSON size of the other fields kept from one token response. */
const maxExtraFieldsLength = 16 * 1024

const jsonLength = (value: unknown): number => {
  try {
    return JSON.stringify(value)?.length ?? 0
  } catch {
    return Number.POSITIVE_INFINITY
  }
}

/**
 * The fields of a token response body other than those `TokenResponse` reads (`access_token`,
 * `token_type`, `expires_in`, `refresh_token`, `scope`, `id_token`), as the server sent them. Kept in
 * order while their JSON fits in 16 KiB; a field that does not fit, and keys such as `__proto__`, are
 * left out (SPEC S28).
 *
 * @example
 * ```ts
 * import { TokenResponse } from "@effect-oauth/core"
 *
 * const body = { access_token: "at-1", token_type: "Bearer", tenant: "acme", expires_in: 3600 }
 * assert.deepStrictEqual(TokenResponse.extraFields(body), { tenant: "acme" })
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const extraFields = (body: Readonly<Record<string, unknown>>): Readonly<Record<string, unknown>> => {
  const fields: Record<string, unknown> = {}
  let length = 2
  for (const [key, value] of Object.entries(body)) {
    if (knownFields.has(key) || unsafeKeys.has(key) || value === undefined) continue
    const size = key.length + jsonLength(value) + 4
    if (length + size > maxExtraFieldsLength) continue
    length += size
    fields[key] = value
  }
  return fields
}
