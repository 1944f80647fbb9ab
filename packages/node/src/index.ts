/**
 * @since 0.1.0
 */
export * as NodeOAuth from "./NodeOAuth.js"

/**
 * @since 0.1.0
 */
export * as NodeSignIn from "./NodeSignIn.js"

/**
 * @since 0.1.0
 */
export * as NodeSignInAuthentication from "./NodeSignInAuthentication.js"

/**
 * @since 0.1.0
 */
export * as NodeSignInFailure from "./NodeSignInFailure.js"

/**
 * @since 0.1.0
 */
export * as NodeSignInRequest from "./NodeSignInRequest.js"

/**
 * @since 0.1.0
 */
export * as NodeTokenStore from "./NodeTokenStore.js"

/**
 * @since 0.1.0
 */
export * as NodeLoopbackLogin from "./NodeLoopbackLogin.js"

/**
 * @since 0.1.0
 */
export * as CredalSdk from "./CredalSdk.js"
