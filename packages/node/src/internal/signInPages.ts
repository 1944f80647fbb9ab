/**
 * The pages of the sign-in routes and of the loopback login: what each failure means to a person, as
 * HTML or JSON. A page never carries a secret: messages are written here from the error's tag and its
 * non-secret fields (error codes, reasons), never from request values.
 *
 * @internal
 */
import { Html, type OAuthClient, type OAuthError } from "@effect-oauth/core"
import type * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Schema from "effect/Schema"

/**
 * The application's `key` function failed after the code was exchanged: the user could not be
 * identified (a whoami call that failed, say). Its cause is logged, never shown.
 *
 * @internal
 */
export class KeyFailed extends Schema.TaggedError<KeyFailed>("@effect-oauth/node/KeyFailed")("KeyFailed", {}) {
  override get message(): string {
    return "The application could not identify the signed-in user (its key function failed)."
  }
}

/** @internal */
export type SignInError =
  | OAuthClient.CallbackError
  | OAuthClient.ExchangeError
  | OAuthError.TokenStoreError
  | OAuthError.PendingAuthorizationsError
  | KeyFailed

/** @internal */
export type SignOutError = OAuthError.ErrorResponse | OAuthError.HttpError | OAuthError.TokenStoreError

/** @internal */
export interface Failure {
  /** The error's tag (`StateMismatch`, `AuthorizationDenied`…) or `CrossSiteRequest`, `MethodNotAllowed`. */
  readonly tag: string
  readonly status: number
  readonly title: string
  /** A sentence for a person; never a secret. */
  readonly message: string
  /** Where to start a sign-in again. */
  readonly loginPath: string
  /** The typed error, when the failure comes from the OAuth flow or the stores. */
  readonly error: SignInError | SignOutError | undefined
}

const bounded = (text: string, max = 200) => text.length > max ? `${text.slice(0, max)}…` : text

/** Status, title and message of a failed sign-in (callback problems 400, upstream failures 502). */
export const describe = (
  error: SignInError | SignOutError,
  loginPath: string,
  during: "sign-in" | "sign-out" = "sign-in"
): Failure => {
  const make = (status: number, title: string, message: string): Failure => ({
    tag: error._tag,
    status,
    title,
    message,
    loginPath,
    error
  })
  switch (error._tag) {
    case "AuthorizationDenied":
      return error.error === "access_denied"
        ? make(
          400,
          "You declined access",
          "You chose not to let this application use your account, so you are not signed in. You can sign in again whenever you want."
        )
        : make(
          400,
          "The sign-in was refused",
          `The authorization server refused the sign-in (${bounded(error.error, 64)}${
            error.description === undefined ? "" : `: ${bounded(error.description)}`
          }). Please try again.`
        )
    case "StateMismatch":
      return make(
        400,
        "This sign-in cannot be completed",
        error.reason === "expired"
          ? "The sign-in took too long and has expired. Please sign in again."
          : "This sign-in response does not belong to a sign-in started in this browser, or it was already used. Please sign in again."
      )
    case "IssuerMismatch":
      return make(
        400,
        "This sign-in cannot be completed",
        "The sign-in response names another authorization server than the one this application uses, so it was rejected. Please sign in again."
      )
    case "InvalidCallback":
      return make(
        400,
        "This sign-in cannot be completed",
        `The sign-in response is invalid (${bounded(error.reason)}). Please sign in again.`
      )
    case "ErrorResponse":
      switch (error.error) {
        case "invalid_client":
        case "unauthorized_client":
        case "unsupported_grant_type":
          return make(
            502,
            during === "sign-in" ? "The sign-in could not be completed" : "The sign-out could not be completed",
            "This application is not set up correctly with its authorization server, so signing in cannot work right now. Its operators can see what went wrong in its logs; please try again later or contact them."
          )
        case "invalid_grant":
          return make(
            502,
            during === "sign-in" ? "This sign-in cannot be completed" : "The sign-out could not be completed",
            during === "sign-in"
              ? "The authorization server did not accept this sign-in: it was already used or took too long. Please sign in again."
              : "The authorization server refused the request. Please try again."
          )
        default:
          return make(
            502,
            during === "sign-in" ? "The sign-in could not be completed" : "The sign-out could not be completed",
            `The authorization server refused the request (${bounded(error.error, 64)}). Please try again.`
          )
      }
    case "KeyFailed":
      return make(
        502,
        "The sign-in could not be completed",
        "You signed in, but this application could not look up your account. Please try again in a moment."
      )
    case "InvalidTokenResponse":
      return make(
        502,
        "The sign-in could not be completed",
        "The authorization server sent an invalid answer. Please try again later."
      )
    case "HttpError":
      return make(
        502,
        during === "sign-in" ? "The sign-in could not be completed" : "The sign-out could not be completed",
        "The authorization server could not be reached or answered with an error. Please try again later."
      )
    case "InvalidIdToken":
      return make(
        502,
        "The sign-in could not be completed",
        "The identity the authorization server sent could not be verified. Please sign in again."
      )
    case "TokenStoreError":
    case "PendingAuthorizationsError":
      return make(
        503,
        during === "sign-in" ? "The sign-in could not be saved" : "The sign-out could not be completed",
        "The application could not reach its storage. Please try again later."
      )
  }
}

/** Escapes text for HTML content and attribute values. */
export const escapeHtml: (text: string) => string = Html.escape

/** Headers of every page: never cached, never framed, no referrer (the callback URL carries the code). */
export const pageHeaders: Readonly<Record<string, string>> = {
  "cache-control": "no-store",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
}

/** A minimal, self-contained HTML page. */
export const page = (options: {
  readonly title: string
  readonly message: string
  readonly tag?: string | undefined
  readonly link?: { readonly href: string; readonly text: string } | undefined
}): string =>
  [
    "<!doctype html>",
    "<html lang=\"en\">",
    "<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
    `<title>${escapeHtml(options.title)}</title>`,
    "<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}",
    "code{color:#555}</style></head>",
    "<body>",
    `<h1>${escapeHtml(options.title)}</h1>`,
    `<p>${escapeHtml(options.message)}</p>`,
    options.link === undefined
      ? ""
      : `<p><a href="${escapeHtml(options.link.href)}">${escapeHtml(options.link.text)}</a></p>`,
    options.tag === undefined ? "" : `<p><small>Error: <code>${escapeHtml(options.tag)}</code></small></p>`,
    "</body></html>"
  ].join("")

/** Prefers JSON only when the client asks for JSON and not for HTML. */
export const wantsJson = (accept: string | undefined): boolean => {
  if (accept === undefined) return false
  const types = accept.toLowerCase().split(",").map((part) => part.split(";")[0]?.trim() ?? "")
  return types.includes("application/json") && !types.includes("text/html")
}

/** The default rendering of a failure: HTML, or JSON for `Accept: application/json`. */
export const render = (failure: Failure, accept: string | undefined): HttpServerResponse.HttpServerResponse =>
  wantsJson(accept)
    ? HttpServerResponse.unsafeJson(
      { error: failure.tag, title: failure.title, message: failure.message, login: failure.loginPath },
      { status: failure.status, headers: pageHeaders }
    )
    : HttpServerResponse.text(
      page({
        title: failure.title,
        message: failure.message,
        tag: failure.tag,
        link: failure.tag === "MethodNotAllowed" || failure.tag === "CrossSiteRequest"
          ? undefined
          : { href: failure.loginPath, text: failure.tag === "AuthorizationDenied" ? "Sign in again" : "Try again" }
      }),
      { status: failure.status, contentType: "text/html; charset=utf-8", headers: pageHeaders }
    )

/**
 * The answer to a request that needs a signed-in user and has none: a `GET` page goes to the login
 * route and comes back afterwards; anything else gets a 401 naming the login route.
 */
export const unauthorized = (
  loginPath: string,
  request: HttpServerRequest.HttpServerRequest
): HttpServerResponse.HttpServerResponse => {
  const url = new URL(request.url, "http://request.invalid")
  const login = `${loginPath}?returnTo=${encodeURIComponent(url.pathname + url.search)}`
  return request.method === "GET" && !wantsJson(request.headers["accept"])
    ? HttpServerResponse.redirect(login, { status: 302, headers: { "cache-control": "no-store" } })
    : HttpServerResponse.unsafeJson(
      { error: "Unauthorized", message: "Sign in first.", login },
      { status: 401, headers: { "cache-control": "no-store" } }
    )
}
