/**
 * @since 0.1.0
 */
export * as OAuthClient from "./OAuthClient.js"

/**
 * @since 0.1.0
 */
export * as OAuthConfig from "./OAuthConfig.js"

/**
 * @since 0.1.0
 */
export * as OAuthError from "./OAuthError.js"

/**
 * @since 0.1.0
 */
export * as PendingAuthorization from "./PendingAuthorization.js"

/**
 * @since 0.1.0
 */
export * as Pkce from "./Pkce.js"

/**
 * @since 0.1.0
 */
export * as SecureRandom from "./SecureRandom.js"

/**
 * @since 0.1.0
 */
export * as TokenResponse from "./TokenResponse.js"

/**
 * @since 0.1.0
 */
export * as TokenSet from "./TokenSet.js"

/**
 * @since 0.1.0
 */
export * as AccessTokens from "./AccessTokens.js"

/**
 * @since 0.1.0
 */
export * as OAuthHttpClient from "./OAuthHttpClient.js"

/**
 * @since 0.1.0
 */
export * as TokenStore from "./TokenStore.js"

/**
 * @since 0.1.0
 */
export * as PendingAuthorizations from "./PendingAuthorizations.js"

/**
 * @since 0.1.0
 */
export * as EncryptedTokenStore from "./EncryptedTokenStore.js"

/**
 * @since 0.1.0
 */
export * as Sealing from "./Sealing.js"

/**
 * @since 0.1.0
 */
export * as ConstantTime from "./ConstantTime.js"

/**
 * @since 0.1.0
 */
export * as Discovery from "./Discovery.js"

/**
 * @since 0.1.0
 */
export * as Html from "./Html.js"

/**
 * @since 0.1.0
 */
export * as ServerExchange from "./ServerExchange.js"

/**
 * @since 0.1.0
 */
export * as TokenValidator from "./TokenValidator.js"
