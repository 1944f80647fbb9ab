/**
 * The claims of an ID Token (OpenID Connect Core §2) and of a userinfo answer (§5.3.2): the protocol
 * and standard claims (§5.1) typed, every other claim kept in `other`. A standard claim of the wrong
 * type (say, `email_verified: "true"`) is kept in `other` rather than failing the sign-in.
 *
 * @since 0.1.0
 */
import { OAuthError, type TokenSet } from "@effect-oauth/core"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Encoding from "effect/Encoding"
import * as Option from "effect/Option"
import type * as ParseResult from "effect/ParseResult"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Json from "./internal/json.js"

const NumericDate = Schema.Number.pipe(Schema.finite())
const Audience = Schema.Union(Schema.String, Schema.Array(Schema.String))

/**
 * The standard claims of OpenID Connect Core §5.1, every one optional.
 *
 * @example
 * ```ts
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { Schema } from "effect"
 *
 * // The standard claims plus one of your own, as a schema of its own.
 * const Profile = Schema.Struct({ ...IdTokenClaims.standardClaims, tenant: Schema.String })
 * const profile = Schema.decodeUnknownSync(Profile)({ email: "ann@example.com", email_verified: true, tenant: "t1" })
 * assert.strictEqual(profile.email_verified, true)
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const standardClaims = {
  name: Schema.optional(Schema.String),
  given_name: Schema.optional(Schema.String),
  family_name: Schema.optional(Schema.String),
  middle_name: Schema.optional(Schema.String),
  nickname: Schema.optional(Schema.String),
  preferred_username: Schema.optional(Schema.String),
  profile: Schema.optional(Schema.String),
  picture: Schema.optional(Schema.String),
  website: Schema.optional(Schema.String),
  email: Schema.optional(Schema.String),
  email_verified: Schema.optional(Schema.Boolean),
  gender: Schema.optional(Schema.String),
  birthdate: Schema.optional(Schema.String),
  zoneinfo: Schema.optional(Schema.String),
  locale: Schema.optional(Schema.String),
  phone_number: Schema.optional(Schema.String),
  phone_number_verified: Schema.optional(Schema.Boolean),
  address: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown })),
  updated_at: Schema.optional(NumericDate)
}

const Other = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/**
 * @example
 * ```ts
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { Either } from "effect"
 *
 * const claims = Either.getOrThrow(
 *   IdTokenClaims.fromPayload({ iss: "https://op.example", sub: "ann", aud: ["app", "api"], exp: 2e9, iat: 1e9 })
 * )
 * assert.ok(claims instanceof IdTokenClaims.IdTokenClaims)
 * assert.deepStrictEqual(claims.audiences, ["app", "api"])
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export class IdTokenClaims extends Schema.Class<IdTokenClaims>("@effect-oauth/oidc/IdTokenClaims")({
  iss: Schema.String,
  sub: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  aud: Audience,
  exp: NumericDate,
  iat: NumericDate,
  auth_time: Schema.optional(NumericDate),
  nonce: Schema.optional(Schema.String),
  acr: Schema.optional(Schema.String),
  amr: Schema.optional(Schema.Array(Schema.String)),
  azp: Schema.optional(Schema.String),
  at_hash: Schema.optional(Schema.String),
  c_hash: Schema.optional(Schema.String),
  sid: Schema.optional(Schema.String),
  ...standardClaims,
  /** Every claim not typed above, as the provider sent it. */
  other: Other
}) {
  /**
   * `aud` as a list.
   *
   * @since 0.1.0
   */
  get audiences(): ReadonlyArray<string> {
    return typeof this.aud === "string" ? [this.aud] : this.aud
  }
}

/**
 * A userinfo answer (OpenID Connect Core §5.3.2): `sub` and the standard claims typed, the rest in
 * `other`.
 *
 * @example
 * ```ts
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { Either } from "effect"
 *
 * const info = Either.getOrThrow(IdTokenClaims.userInfoFromJson({ sub: "ann", name: "Ann" }))
 * assert.ok(info instanceof IdTokenClaims.UserInfoClaims)
 * assert.strictEqual(info.name, "Ann")
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export class UserInfoClaims extends Schema.Class<UserInfoClaims>("@effect-oauth/oidc/UserInfoClaims")({
  sub: Schema.String.pipe(Schema.minLength(1), Schema.maxLength(255)),
  ...standardClaims,
  other: Other
}) {}

const unsafeKeys = new Set(["__proto__", "constructor", "prototype"])

/**
 * Splits a claims object into the fields of `schema` (those of the right type) and `other`. The
 * protocol claims (`required`) must have their type; a standard claim of another type goes to `other`.
 */
const split = <A, I>(
  schema: Schema.Schema<A, I> & { readonly fields: Schema.Struct.Fields },
  protocol: ReadonlySet<string>,
  payload: Readonly<Record<string, unknown>>
): Either.Either<A, ParseResult.ParseError> => {
  const known: Record<string, unknown> = {}
  const other: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(payload)) {
    if (unsafeKeys.has(key) || key === "other") continue
    const field = schema.fields[key]
    if (field === undefined) {
      other[key] = value
    } else if (protocol.has(key)) {
      known[key] = value
    } else {
      const one = Schema.Struct({ [key]: field }) as unknown as Schema.Schema<unknown>
      const decoded = Schema.decodeUnknownEither(one)({ [key]: value })
      if (Either.isRight(decoded)) known[key] = value
      else other[key] = value
    }
  }
  return Schema.decodeUnknownEither(schema)({ ...known, other })
}

const idTokenProtocolClaims = new Set([
  "iss",
  "sub",
  "aud",
  "exp",
  "iat",
  "auth_time",
  "nonce",
  "acr",
  "amr",
  "azp",
  "at_hash",
  "c_hash",
  "sid"
])

/**
 * Decodes the claims of an ID Token payload (a JSON object). It does not validate the token; see
 * `IdTokens.validate`.
 *
 * @example
 * ```ts
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { Either } from "effect"
 *
 * const payload = { iss: "https://op.example", sub: "ann", aud: "app", exp: 2e9, iat: 1e9, email_verified: "true" }
 * const claims = Either.getOrThrow(IdTokenClaims.fromPayload(payload))
 * assert.strictEqual(claims.email_verified, undefined) // the wrong type: not typed…
 * assert.strictEqual(claims.other.email_verified, "true") // …but kept
 * assert.ok(Either.isLeft(IdTokenClaims.fromPayload({ sub: "ann" }))) // no iss, aud, exp, iat
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromPayload = (
  payload: Readonly<Record<string, unknown>>
): Either.Either<IdTokenClaims, ParseResult.ParseError> => split(IdTokenClaims, idTokenProtocolClaims, payload)

/**
 * Decodes a userinfo answer (a JSON object).
 *
 * @example
 * ```ts
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { Either } from "effect"
 *
 * const info = Either.getOrThrow(IdTokenClaims.userInfoFromJson({ sub: "ann", email: "ann@example.com", team: "ops" }))
 * assert.strictEqual(info.email, "ann@example.com")
 * assert.strictEqual(info.other.team, "ops")
 * assert.ok(Either.isLeft(IdTokenClaims.userInfoFromJson({ email: "ann@example.com" }))) // no sub
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const userInfoFromJson = (
  json: Readonly<Record<string, unknown>>
): Either.Either<UserInfoClaims, ParseResult.ParseError> => split(UserInfoClaims, new Set(["sub"]), json)

/**
 * The payload of a compact JWS as a JSON object, without checking its signature.
 *
 * @example
 * ```ts
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { Encoding, Option } from "effect"
 *
 * const jwt = `e30.${Encoding.encodeBase64Url(JSON.stringify({ sub: "ann" }))}.signature`
 * assert.deepStrictEqual(IdTokenClaims.decodePayload(jwt), Option.some({ sub: "ann" }))
 * assert.ok(Option.isNone(IdTokenClaims.decodePayload("not-a-jwt")))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const decodePayload = (jwt: string): Option.Option<Readonly<Record<string, unknown>>> => {
  const parts = jwt.split(".")
  if (parts.length !== 3 || parts[1] === undefined) return Option.none()
  return Either.match(Encoding.decodeBase64UrlString(parts[1]), {
    onLeft: () => Option.none(),
    onRight: (text) => Json.parseObject(text)
  })
}

/**
 * The claims of the ID Token a token set carries, decoded without a new validation. The ID Token was
 * validated when the tokens were obtained if the `OAuthClient` was built with `IdTokens.layerValidator`
 * (as `IdTokens.layerOAuthClient` does); with a plain `OAuthClient` nothing checked it, so build the
 * client that way whenever these claims decide who the user is.
 *
 * @example
 * ```ts
 * import { TokenSet } from "@effect-oauth/core"
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { DateTime, Encoding, Option, Redacted } from "effect"
 *
 * const payload = { iss: "https://op.example", sub: "ann", aud: "app", exp: 2e9, iat: 1e9, locale: "fr", tenant: "t1" }
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.none(),
 *   expiresAt: DateTime.unsafeMake(2e12),
 *   refreshExpiresAt: Option.none(),
 *   issuedAt: DateTime.unsafeMake(1e12),
 *   scopes: ["openid"],
 *   idToken: Option.some(Redacted.make(`e30.${Encoding.encodeBase64Url(JSON.stringify(payload))}.sig`))
 * })
 * const claims = Option.getOrThrow(IdTokenClaims.fromTokenSet(tokens))
 * assert.strictEqual(claims.sub, "ann")
 * assert.strictEqual(claims.locale, "fr") // a standard claim, typed
 * assert.strictEqual(claims.other.tenant, "t1") // any other claim, kept
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromTokenSet = (tokens: TokenSet.TokenSet): Option.Option<IdTokenClaims> =>
  Option.flatMap(
    tokens.idToken,
    (idToken) =>
      Option.flatMap(
        decodePayload(Redacted.value(idToken)),
        (payload) => Either.getRight(fromPayload(payload))
      )
  )

/**
 * The `sub` of the ID Token a token set carries, to keep the tokens under the user rather than a random
 * session id (for example as `NodeSignIn`'s `key` option). Fails with `InvalidIdToken` (`missing`) when
 * there is no ID Token. See `fromTokenSet` for when the claims were validated.
 *
 * @example
 * ```ts
 * import type { TokenSet } from "@effect-oauth/core"
 * import { IdTokenClaims } from "@effect-oauth/oidc"
 * import { Effect } from "effect"
 *
 * // After the callback: keep the tokens under the user's `sub` rather than a session id.
 * const keyOf = (tokens: TokenSet.TokenSet) =>
 *   IdTokenClaims.subjectKey(tokens).pipe(Effect.map((sub) => `user:${sub}`))
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const subjectKey = (tokens: TokenSet.TokenSet): Effect.Effect<string, OAuthError.InvalidIdToken> =>
  Option.match(fromTokenSet(tokens), {
    onNone: () => Effect.fail(new OAuthError.InvalidIdToken({ check: "missing", during: "exchange" })),
    onSome: (claims) => Effect.succeed(claims.sub)
  })
