import { mergeConfig, type ViteUserConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

const config: ViteUserConfig = {
  test: {
    name: "sql",
    // Starts a throwaway PostgreSQL cluster (or uses OAUTH_TEST_PG_URL) and provides its URL as `pgUrl`.
    globalSetup: ["./test/setup/postgres.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000
  }
}

export default mergeConfig(shared, config)
