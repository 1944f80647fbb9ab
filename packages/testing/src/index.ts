/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"

/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServerFault from "./FakeAuthorizationServerFault.js"

/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServerGrant from "./FakeAuthorizationServerGrant.js"

/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServerLog from "./FakeAuthorizationServerLog.js"

/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServerMetadata from "./FakeAuthorizationServerMetadata.js"

/**
 * @since 0.1.0
 */
export * as OAuthTest from "./OAuthTest.js"

/**
 * @since 0.1.0
 */
export * as TestTokenStore from "./TestTokenStore.js"

/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServerHttp from "./FakeAuthorizationServerHttp.js"

/**
 * @since 0.1.0
 */
export * as FakeOpenIdProvider from "./FakeOpenIdProvider.js"
