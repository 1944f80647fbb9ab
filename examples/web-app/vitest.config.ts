import { mergeConfig, type ViteUserConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

const config: ViteUserConfig = {
  test: { name: "web-app", include: ["test/**/*.test.ts"] }
}

export default mergeConfig(shared, config)
