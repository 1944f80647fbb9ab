/**
 * @since 0.1.0
 */
export * as SqlTokenStore from "./SqlTokenStore.js"

/**
 * @since 0.1.0
 */
export * as SqlPendingAuthorizations from "./SqlPendingAuthorizations.js"
