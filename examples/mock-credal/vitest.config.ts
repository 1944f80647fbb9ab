import { mergeConfig, type ViteUserConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

const config: ViteUserConfig = {
  test: { name: "mock-credal", include: ["test/**/*.test.ts"] }
}

export default mergeConfig(shared, config)
