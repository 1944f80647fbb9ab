#!/usr/bin/env node
// Dry run of a release: copies the workspace (with the built packages) into a scratch directory,
// runs `changeset version` there (versions and CHANGELOG.md entries from .changeset/*.md), then
// `pnpm -r publish --dry-run`. The checkout itself is left as it is. Run after `tsc -b`.
import { spawnSync } from "node:child_process"
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const scratch = mkdtempSync(path.join(os.tmpdir(), "effect-oauth-release-"))

// Prints the command's output without npm's per-file lines of each tarball.
const must = (command, args) => {
  const result = spawnSync(command, args, { cwd: scratch, encoding: "utf8", env: { ...process.env, CI: "true" } })
  if (result.error) throw result.error
  const output = `${result.stdout}${result.stderr}`.split("\n")
  console.log(output.filter((line) => line.trim() !== "" && !/^npm notice [0-9.]+k?B /.test(line)).join("\n"))
  if (result.status !== 0) {
    console.error(`release dry run: ${command} ${args.join(" ")} failed`)
    process.exit(result.status ?? 1)
  }
}

try {
  const skip = new Set(["node_modules", "build", "docs", ".git"])
  for (const entry of readdirSync(root)) {
    if (skip.has(entry) || entry.startsWith(".vitest") || entry === "artifacts") continue
    cpSync(path.join(root, entry), path.join(scratch, entry), {
      recursive: true,
      filter: (source) => !skip.has(path.basename(source)) && !source.endsWith(".tsbuildinfo")
    })
  }
  const pnpm = spawnSync("pnpm", ["--version"], { encoding: "utf8" }).status === 0
    ? ["pnpm"]
    : ["npx", "--yes", "pnpm@10"]
  // Links the workspace packages (publish resolves `workspace:` ranges through them); no build scripts.
  must(pnpm[0], [
    ...pnpm.slice(1),
    "install",
    "--frozen-lockfile",
    "--offline",
    "--ignore-scripts",
    "--reporter=silent"
  ])
  must(process.execPath, [path.join(scratch, "node_modules/@changesets/cli/bin.js"), "version"])

  const libraries = readdirSync(path.join(scratch, "packages"))
    .map((name) => path.join(scratch, "packages", name))
    .filter((dir) => existsSync(path.join(dir, "package.json")))
    .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) }))
    .filter(({ pkg }) => pkg.private !== true)
  for (const { dir, pkg } of libraries) {
    const changelog = readFileSync(path.join(dir, "CHANGELOG.md"), "utf8")
    const latest = changelog.split(/^## /m)[1]?.split("\n")[0]
    console.log(`${pkg.name}@${pkg.version}: CHANGELOG.md starts at ${latest}`)
    if (latest !== pkg.version) {
      console.error(`release dry run: ${pkg.name}'s CHANGELOG.md has no entry for ${pkg.version}`)
      process.exit(1)
    }
  }

  must(pnpm[0], [...pnpm.slice(1), "-r", "publish", "--dry-run", "--no-git-checks", "--report-summary"])
  const summary = path.join(scratch, "pnpm-publish-summary.json")
  if (existsSync(summary)) {
    const published = JSON.parse(readFileSync(summary, "utf8")).publishedPackages ?? []
    console.log(`release dry run: would publish ${published.map((p) => `${p.name}@${p.version}`).join(", ")}`)
    if (published.length !== libraries.length) {
      console.error(`release dry run: expected ${libraries.length} packages`)
      process.exit(1)
    }
  }
} finally {
  rmSync(scratch, { recursive: true, force: true })
}
