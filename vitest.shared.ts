import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.dirname(fileURLToPath(import.meta.url))
import type { ViteUserConfig } from "vitest/config"

const alias = (name: string) => ({
  [`@effect-oauth/${name}`]: path.join(root, "packages", name, "src")
})

const config: ViteUserConfig = {
  esbuild: { target: "es2022" },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fakeTimers: { toFake: undefined },
    sequence: { concurrent: false },
    alias: {
      ...alias("core"),
      ...alias("testing"),
      ...alias("node"),
      ...alias("sql"),
      ...alias("oidc")
    }
  }
}

export default config
