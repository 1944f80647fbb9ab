/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"

/**
 * @since 0.1.0
 */
export * as OAuthTest from "./OAuthTest.js"
