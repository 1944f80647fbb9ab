/**
 * @since 0.1.0
 */
export * as JwksCache from "./JwksCache.js"

/**
 * @since 0.1.0
 */
export * as OidcError from "./OidcError.js"

/**
 * @since 0.1.0
 */
export * as ProviderMetadata from "./ProviderMetadata.js"

/**
 * @since 0.1.0
 */
export * as IdTokenClaims from "./IdTokenClaims.js"

/**
 * @since 0.1.0
 */
export * as IdTokens from "./IdTokens.js"

/**
 * @since 0.1.0
 */
export * as UserInfo from "./UserInfo.js"
