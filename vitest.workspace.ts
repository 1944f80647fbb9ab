import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { defineWorkspace } from "vitest/config"

const root = path.dirname(fileURLToPath(import.meta.url))

export default defineWorkspace(
  ["core", "testing", "node"].map((name) => path.join(root, "packages", name, "vitest.config.ts"))
)
