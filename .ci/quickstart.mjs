#!/usr/bin/env node
// The Quick start's two commands: `npm run demo` and `npm test` (also `pnpm demo`, `pnpm test`).
// Each needs only Node.js 20 and npm: it finds pnpm (or fetches pnpm 10 with npx), installs the
// workspace from the lockfile, then runs the walkthrough or the whole test suite.
import { spawnSync } from "node:child_process"
import { existsSync, readFileSync, rmSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const task = process.argv[2]
const extra = process.argv.slice(3)

const run = (command, args, options = {}) => {
  const result = spawnSync(command, args, { cwd: root, stdio: "inherit", ...options })
  if (result.error) throw result.error
  return result.status ?? 1
}
const must = (command, args, options) => {
  const status = run(command, args, options)
  if (status !== 0) process.exit(status)
}
const bin = (name) => path.join(root, "node_modules", ".bin", name)

const pnpm = (() => {
  const found = spawnSync("pnpm", ["--version"], { encoding: "utf8" })
  if (found.status === 0 && found.stdout.startsWith("10.")) return ["pnpm"]
  return ["npx", "--yes", "pnpm@10"]
})()

const install = () => {
  const quiet = ["install", "--frozen-lockfile", "--reporter=append-only"]
  must(pnpm[0], [...pnpm.slice(1), ...quiet], { stdio: ["ignore", "ignore", "inherit"] })
}

if (task === "demo") {
  install()
  must(bin("tsc"), ["-b"])
  must(process.execPath, [path.join(root, "examples/walkthrough/dist/main.js"), ...extra])
} else if (task === "test") {
  install()
  const report = path.join(root, ".vitest-report.json")
  rmSync(report, { force: true })
  const status = run(bin("vitest"), [
    "run",
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${report}`,
    ...extra
  ])
  if (!existsSync(report)) {
    console.log("0 passed, 1 failed")
    process.exit(status === 0 ? 1 : status)
  }
  const json = JSON.parse(readFileSync(report, "utf8"))
  const passed = json.numPassedTests ?? 0
  // Pending, todo and skipped tests count as failed: each is a feature that does not work.
  // A file that failed to load has no tests of its own; it counts as one failure.
  const brokenFiles = (json.testResults ?? []).filter((file) =>
    file.status === "failed" && (file.assertionResults ?? []).length === 0
  ).length
  const failed = (json.numFailedTests ?? 0) + (json.numPendingTests ?? 0) + (json.numTodoTests ?? 0) + brokenFiles
  console.log(`${passed} passed, ${failed} failed`)
  process.exit(status !== 0 || failed > 0 || passed === 0 ? 1 : 0)
} else {
  console.error("usage: node .ci/quickstart.mjs demo|test")
  process.exit(2)
}
