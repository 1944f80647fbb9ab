import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { defineWorkspace } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))

/** Every vitest project: a directory (relative to the root) with a vitest.config.ts; a bare name is packages/<name>. */
const projects = [
  "core",
  "testing",
  "node",
  "sql",
  "oidc",
  "examples/web-app",
  "examples/cli-login",
  "examples/mock-credal"
]

export default defineWorkspace(
  projects.map((project) =>
    path.join(root, project.includes("/") ? project : path.join("packages", project), "vitest.config.ts")
  )
)
