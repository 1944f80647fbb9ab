#!/usr/bin/env node
// The Quick start's two commands: `npm run demo` and `npm test` (also `pnpm demo`, `pnpm test`).
// Each needs only Node.js 20 and npm: it finds pnpm (or fetches pnpm 10 with npx), installs the
// workspace from the lockfile, then runs the walkthrough or the whole test suite. The test suite
// also needs Debian's chromium and postgresql packages; when they are missing and we are root, they
// are installed with apt-get.
import { spawnSync } from "node:child_process"
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs"
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

const systemPackages = () => {
  const missing = []
  if (!existsSync("/usr/bin/chromium")) missing.push("chromium")
  const pg = existsSync("/usr/lib/postgresql")
    ? readdirSync("/usr/lib/postgresql").some((v) => existsSync(`/usr/lib/postgresql/${v}/bin/initdb`))
    : false
  if (!pg) missing.push("postgresql")
  if (missing.length === 0) return
  if (process.getuid?.() !== 0) {
    console.error(
      `The test suite needs Debian's ${missing.join(" and ")}: sudo apt-get install -y ${missing.join(" ")}`
    )
    process.exit(1)
  }
  console.log(`Installing ${missing.join(", ")} with apt-get…`)
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" }
  must("apt-get", ["update", "-qq"], { env, stdio: ["ignore", "ignore", "inherit"] })
  must("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], {
    env,
    stdio: ["ignore", "ignore", "inherit"]
  })
}

if (task === "demo") {
  install()
  must(bin("tsc"), ["-b"])
  must(process.execPath, [path.join(root, "examples/walkthrough/dist/main.js"), ...extra])
} else if (task === "test") {
  install()
  systemPackages()
  // Child-process tests import the built packages, and type errors fail the suite early.
  must(bin("tsc"), ["-b"])
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
