#!/usr/bin/env node
// Checks what users would install: packs every library package (`pnpm pack`, as `publish` would),
// checks that the tarball holds README.md, LICENSE, CHANGELOG.md and the built entry points, then runs
// publint (--strict) and @arethetypeswrong/cli on the tarball, for the root and every module subpath.
// Run after `tsc -b`. Exits non-zero on any problem.
//
// The one exception, for attw: `cjs-resolves-to-esm`. The packages are ESM only by design (like
// effect's own modules under `exports`), and every supported Node.js (20.19+, 22, 24) loads them from
// CommonJS with require(); attw still reports "ESM (dynamic import only)" for `node16 (from CJS)`.
import { spawnSync } from "node:child_process"
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const bin = (name) => path.join(root, "node_modules", ".bin", name)
const out = mkdtempSync(path.join(os.tmpdir(), "effect-oauth-packs-"))
const pnpm = spawnSync("pnpm", ["--version"], { encoding: "utf8" }).status === 0
  ? ["pnpm"]
  : ["npx", "--yes", "pnpm@10"]

const run = (command, args, cwd = root) => {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, FORCE_COLOR: "0" } })
  if (result.error) throw result.error
  return { status: result.status ?? 1, output: `${result.stdout}${result.stderr}` }
}

const libraries = readdirSync(path.join(root, "packages"))
  .map((name) => path.join(root, "packages", name))
  .filter((dir) => existsSync(path.join(dir, "package.json")))
  .map((dir) => ({ dir, pkg: JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) }))
  .filter(({ pkg }) => pkg.private !== true)

const problems = []
try {
  for (const { dir, pkg } of libraries) {
    const packed = run(pnpm[0], [...pnpm.slice(1), "pack", "--pack-destination", out], dir)
    const tarball = path.join(out, `${pkg.name.replace(/^@/, "").replace("/", "-")}-${pkg.version}.tgz`)
    if (packed.status !== 0 || !existsSync(tarball)) {
      problems.push(`${pkg.name}: pnpm pack failed\n${packed.output}`)
      continue
    }
    const files = new Set(
      run("tar", ["-tzf", tarball]).output.split("\n").map((line) => line.replace(/^package\//, ""))
    )
    const required = ["package.json", "README.md", "LICENSE", "CHANGELOG.md", "dist/index.js", "dist/index.d.ts"]
    const missing = required.filter((file) => !files.has(file))
    if (missing.length > 0) problems.push(`${pkg.name}: the tarball lacks ${missing.join(", ")}`)

    const publint = run(bin("publint"), ["run", tarball, "--strict"])
    if (publint.status !== 0) problems.push(`${pkg.name}: publint\n${publint.output}`)

    // Every public module is a subpath (`exports["./*"]`): check each one, not only the root.
    const modules = readdirSync(path.join(dir, "src"))
      .filter((file) => file.endsWith(".ts") && file !== "index.ts")
      .map((file) => `./${file.slice(0, -3)}`)
    const attw = run(bin("attw"), [
      tarball,
      "--format",
      "ascii",
      "--no-color",
      "--ignore-rules",
      "cjs-resolves-to-esm",
      "--exclude-entrypoints",
      "./package.json",
      "--include-entrypoints",
      ...modules
    ])
    if (attw.status !== 0) problems.push(`${pkg.name}: attw\n${attw.output}`)
    console.log(
      `${pkg.name}@${pkg.version}: ${files.size - (files.has("") ? 1 : 0)} files; publint ${
        publint.status === 0 ? "ok" : "FAILED"
      }; ` +
        `attw ${attw.status === 0 ? "ok" : "FAILED"} (root and ${modules.length} modules)`
    )
  }
} finally {
  rmSync(out, { recursive: true, force: true })
}
if (problems.length > 0) {
  console.error(problems.join("\n\n"))
  process.exit(1)
}
