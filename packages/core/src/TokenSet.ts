/**
 * The tokens of one grant as the application keeps them: `Redacted` tokens and absolute instants.
 * The schema's encoded side is the stored format (JSON, instants as ISO strings).
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { TokenResponse } from "./TokenResponse.js"
import { parseScope } from "./TokenResponse.js"

/** The `extraFields` of every token set without any: one shared, frozen value, not one per token set. */
const noExtraFields: Redacted.Redacted<Readonly<Record<string, unknown>>> = Redacted.make(Object.freeze({}))

/**
 * @example
 * ```ts
 * import { TokenSet } from "@effect-oauth/core"
 * import { DateTime, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }),
 *   refreshExpiresAt: Option.some(DateTime.add(now, { days: 30 })),
 *   issuedAt: now,
 *   scopes: ["read"]
 * })
 * assert.strictEqual(String(tokens.accessToken), "<redacted>")
 * assert.strictEqual(tokens.needsRefresh(now), false)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export class TokenSet extends Schema.Class<TokenSet>("@effect-oauth/core/TokenSet")({
  accessToken: Schema.Redacted(Schema.String.pipe(Schema.minLength(1))),
  tokenType: Schema.Literal("Bearer"),
  refreshToken: Schema.optionalWith(Schema.Redacted(Schema.String.pipe(Schema.minLength(1))), { as: "Option" }),
  /** When the access token expires, computed from the moment the token request was sent (SPEC S14). */
  expiresAt: Schema.DateTimeUtc,
  /** When the refresh token expires, from the configured refresh lifetime (SPEC S24). */
  refreshExpiresAt: Schema.optionalWith(Schema.DateTimeUtc, { as: "Option" }),
  /** When the token request that produced these tokens was sent. */
  issuedAt: Schema.DateTimeUtc,
  /** The granted scopes: the response's `scope`, or the requested scopes when it has none (SPEC S15). */
  scopes: Schema.Array(Schema.String),
  /**
   * The OpenID Connect ID Token of the response that produced these tokens, or of the sign-in when a
   * refresh answered none. `@effect-oauth/oidc` validates it and reads its claims.
   */
  idToken: Schema.optionalWith(Schema.Redacted(Schema.String.pipe(Schema.minLength(1))), { as: "Option" }).pipe(
    Schema.withConstructorDefault(() => Option.none())
  ),
  /**
   * The token response's other fields, as the server sent them (see `TokenResponse.extraFields`).
   * Redacted, because a provider may put secrets there.
   */
  extraFields: Schema.optionalWith(Schema.Redacted(Schema.Record({ key: Schema.String, value: Schema.Unknown })), {
    default: () => noExtraFields
  })
}) {
  /**
   * True when the access token expires within `window` of `now`.
   *
   * @example
   * ```ts
   * import { TokenSet } from "@effect-oauth/core"
   * import { DateTime, Option, Redacted } from "effect"
   *
   * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
   * const tokens = new TokenSet.TokenSet({
   *   accessToken: Redacted.make("at-1"),
   *   tokenType: "Bearer",
   *   refreshToken: Option.some(Redacted.make("rt-1")),
   *   expiresAt: DateTime.add(now, { hours: 1 }),
   *   refreshExpiresAt: Option.some(DateTime.add(now, { days: 30 })),
   *   issuedAt: now,
   *   scopes: ["read"]
   * })
   *
   * assert.strictEqual(tokens.needsRefresh(now), false)
   * // Refresh a minute early: true once the access token expires within the window.
   * assert.strictEqual(tokens.needsRefresh(DateTime.add(now, { minutes: 59, seconds: 30 }), "1 minute"), true)
   * ```
   *
   * @since 0.1.0
   */
  needsRefresh(now: DateTime.Utc, window: Duration.DurationInput = Duration.zero): boolean {
    return DateTime.toEpochMillis(this.expiresAt) - Duration.toMillis(window) <= DateTime.toEpochMillis(now)
  }

  /**
   * True when the refresh token is known to be past its lifetime at `now`.
   *
   * @example
   * ```ts
   * import { TokenSet } from "@effect-oauth/core"
   * import { DateTime, Option, Redacted } from "effect"
   *
   * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
   * const tokens = new TokenSet.TokenSet({
   *   accessToken: Redacted.make("at-1"),
   *   tokenType: "Bearer",
   *   refreshToken: Option.some(Redacted.make("rt-1")),
   *   expiresAt: DateTime.add(now, { hours: 1 }),
   *   refreshExpiresAt: Option.some(DateTime.add(now, { days: 30 })),
   *   issuedAt: now,
   *   scopes: ["read"]
   * })
   *
   * assert.strictEqual(tokens.refreshExpired(DateTime.add(now, { days: 1 })), false)
   * assert.strictEqual(tokens.refreshExpired(DateTime.add(now, { days: 30 })), true)
   * ```
   *
   * @since 0.1.0
   */
  refreshExpired(now: DateTime.Utc): boolean {
    return Option.match(this.refreshExpiresAt, {
      onNone: () => false,
      onSome: (at) => DateTime.toEpochMillis(at) <= DateTime.toEpochMillis(now)
    })
  }
}

/**
 * The stored format: a JSON string. It holds the raw tokens, so wrap the store with encryption at rest
 * where the medium is not trusted.
 *
 * @example
 * ```ts
 * import { TokenSet } from "@effect-oauth/core"
 * import { DateTime, Option, Redacted } from "effect"
 *
 * const now = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = new TokenSet.TokenSet({
 *   accessToken: Redacted.make("at-1"),
 *   tokenType: "Bearer",
 *   refreshToken: Option.some(Redacted.make("rt-1")),
 *   expiresAt: DateTime.add(now, { hours: 1 }),
 *   refreshExpiresAt: Option.some(DateTime.add(now, { days: 30 })),
 *   issuedAt: now,
 *   scopes: ["read"]
 * })
 *
 * import { Schema } from "effect"
 *
 * const json = Schema.encodeSync(TokenSet.StoredJson)(tokens)
 * assert.strictEqual(JSON.parse(json).expiresAt, "2026-01-01T13:00:00.000Z")
 * const back = Schema.decodeSync(TokenSet.StoredJson)(json)
 * assert.strictEqual(Redacted.value(back.accessToken), "at-1")
 * ```
 *
 * @since 0.1.0
 * @category schemas
 */
export const StoredJson: Schema.Schema<TokenSet, string> = Schema.parseJson(TokenSet)

/**
 * @example
 * ```ts
 * import { TokenSet } from "@effect-oauth/core"
 * import { DateTime, Duration, Option } from "effect"
 *
 * const options: TokenSet.FromResponseOptions = {
 *   sentAt: DateTime.unsafeMake("2026-01-01T12:00:00.000Z"),
 *   requestedScopes: ["read"],
 *   defaultLifetime: Duration.hours(1),
 *   refreshTokenLifetime: Option.some(Duration.days(30))
 * }
 * assert.deepStrictEqual(options.requestedScopes, ["read"])
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export interface FromResponseOptions {
  /** When the token request was sent. */
  readonly sentAt: DateTime.Utc
  /** The scopes that were asked for. */
  readonly requestedScopes: ReadonlyArray<string>
  /** Applies when the response has no `expires_in`. */
  readonly defaultLifetime: Duration.Duration
  /** The refresh token's lifetime, when the server has one it does not announce. */
  readonly refreshTokenLifetime: Option.Option<Duration.Duration>
  /** The tokens being refreshed: their refresh token is kept when the response has none (SPEC S17). */
  readonly previous?: TokenSet | undefined
  /** The refresh token being used, when there is no previous token set. */
  readonly previousRefreshToken?: Redacted.Redacted<string> | undefined
  /** The response's other fields (see `TokenResponse.extraFields`); default: none. */
  readonly extraFields?: Readonly<Record<string, unknown>> | undefined
  /** The longest access token lifetime believed; a larger `expires_in` is clamped to it. Default 1 year (SPEC S33). */
  readonly maxLifetime?: Duration.Duration | undefined
}

/**
 * The default bound of a server-chosen access token lifetime: one year (SPEC S33).
 *
 * @example
 * ```ts
 * import { TokenSet } from "@effect-oauth/core"
 * import { Duration } from "effect"
 *
 * assert.strictEqual(Duration.toDays(TokenSet.defaultMaxLifetime), 365)
 * ```
 *
 * @since 0.1.0
 * @category models
 */
export const defaultMaxLifetime: Duration.Duration = Duration.days(365)

/** The largest instant a JavaScript date holds: 8.64e15 ms from the epoch (year 275 760). */
const maxEpochMillis = 8.64e15

/**
 * `at` plus `duration`, held within the range of a JavaScript date, so that the result always encodes
 * (SPEC S33).
 *
 * @example
 * ```ts
 * import { TokenSet } from "@effect-oauth/core"
 * import { DateTime, Duration } from "effect"
 *
 * const at = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * assert.strictEqual(DateTime.formatIso(TokenSet.addBounded(at, Duration.hours(1))), "2026-01-01T13:00:00.000Z")
 * // An infinite duration ends at the last instant a date holds, not at an invalid date.
 * assert.strictEqual(DateTime.toEpochMillis(TokenSet.addBounded(at, Duration.infinity)), 8.64e15)
 * ```
 *
 * @since 0.1.0
 * @category utils
 */
export const addBounded = (at: DateTime.Utc, duration: Duration.Duration): DateTime.Utc => {
  const millis = DateTime.toEpochMillis(at) +
    (Duration.isFinite(duration) ? Duration.toMillis(duration) : maxEpochMillis)
  return DateTime.unsafeMake(Math.max(-maxEpochMillis, Math.min(maxEpochMillis, Number.isNaN(millis) ? 0 : millis)))
}

/**
 * Turns a validated token response into a `TokenSet` (SPEC S14, S15, S17, S24).
 *
 * @example
 * ```ts
 * import { TokenResponse, TokenSet } from "@effect-oauth/core"
 * import { DateTime, Duration, Effect, Option } from "effect"
 *
 * const response = Effect.runSync(TokenResponse.decode({ access_token: "at-1", token_type: "Bearer", expires_in: 600 }))
 * const sentAt = DateTime.unsafeMake("2026-01-01T12:00:00.000Z")
 * const tokens = TokenSet.fromResponse(response, {
 *   sentAt,
 *   requestedScopes: ["read"],
 *   defaultLifetime: Duration.hours(1),
 *   refreshTokenLifetime: Option.none()
 * })
 * assert.strictEqual(DateTime.formatIso(tokens.expiresAt), "2026-01-01T12:10:00.000Z")
 * // No `scope` in the response: the requested scopes were granted (SPEC S15).
 * assert.deepStrictEqual(tokens.scopes, ["read"])
 * ```
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromResponse = (response: TokenResponse, options: FromResponseOptions): TokenSet => {
  const lifetime = Duration.min(
    response.expires_in === undefined ? options.defaultLifetime : Duration.seconds(response.expires_in),
    options.maxLifetime ?? defaultMaxLifetime
  )
  const refreshExpiresAt = (): Option.Option<DateTime.Utc> =>
    Option.map(options.refreshTokenLifetime, (life) => addBounded(options.sentAt, life))
  const refresh: Pick<TokenSet, "refreshToken" | "refreshExpiresAt"> = response.refresh_token !== undefined
    ? { refreshToken: Option.some(response.refresh_token), refreshExpiresAt: refreshExpiresAt() }
    : options.previous !== undefined
    ? { refreshToken: options.previous.refreshToken, refreshExpiresAt: options.previous.refreshExpiresAt }
    : { refreshToken: Option.fromNullable(options.previousRefreshToken), refreshExpiresAt: Option.none() }
  return new TokenSet({
    accessToken: response.access_token,
    tokenType: "Bearer",
    ...refresh,
    expiresAt: addBounded(options.sentAt, lifetime),
    issuedAt: options.sentAt,
    scopes: Option.getOrElse(
      parseScope(response.scope),
      () => options.previous?.scopes ?? options.requestedScopes
    ),
    idToken: response.id_token !== undefined
      ? Option.some(response.id_token)
      : options.previous?.idToken ?? Option.none(),
    extraFields: options.extraFields === undefined || Object.keys(options.extraFields).length === 0
      ? noExtraFields
      : Redacted.make({ ...options.extraFields })
  })
}
