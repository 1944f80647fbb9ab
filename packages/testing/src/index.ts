/**
 * @since 0.1.0
 */
export * as FakeAuthorizationServer from "./FakeAuthorizationServer.js"
