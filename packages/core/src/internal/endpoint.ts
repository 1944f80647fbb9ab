import * as Either from "effect/Either"

/** 127.0.0.0/8, ::1 and localhost, in any case (SPEC S27). */
export const isLoopbackHostname = (hostname: string): boolean => {
  const name = hostname.toLowerCase()
  if (name === "localhost" || name === "[::1]" || name === "::1") return true
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(name)
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255)
}

export const validateEndpoint = (input: string | URL): Either.Either<URL, string> => {
  const text = typeof input === "string" ? input : input.href
  if (!URL.canParse(text)) return Either.left("is not an absolute URL")
  const url = new URL(text)
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHostname(url.hostname))) {
    return Either.left("must use https (http is allowed only for loopback hosts)")
  }
  if (url.username !== "" || url.password !== "") return Either.left("must not contain credentials")
  if (url.hash !== "") return Either.left("must not contain a fragment")
  return Either.right(url)
}

export const validateRedirectUri = (input: string | URL): Either.Either<string, string> => {
  const text = typeof input === "string" ? input : input.href
  if (!URL.canParse(text)) return Either.left("is not an absolute URL")
  const url = new URL(text)
  if (url.hash !== "" || text.includes("#")) return Either.left("must not contain a fragment")
  if (url.protocol === "http:" && !isLoopbackHostname(url.hostname)) {
    return Either.left("must use https (http is allowed only for loopback hosts)")
  }
  return Either.right(text)
}
