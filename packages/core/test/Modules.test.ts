import { assert, describe, it } from "@effect/vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"

/** The relative runtime imports of every module under `root` (`import type` excluded). */
const runtimeImports = (root: string): ReadonlyMap<string, ReadonlyArray<string>> => {
  const graph = new Map<string, ReadonlyArray<string>>()
  const visit = (dir: string) => {
    for (const entry of Fs.readdirSync(dir, { withFileTypes: true })) {
      const file = Path.join(dir, entry.name)
      if (entry.isDirectory()) visit(file)
      else if (entry.name.endsWith(".ts")) {
        const text = Fs.readFileSync(file, "utf8")
        const imports = Array.from(
          text.matchAll(/^(?:import|export)\s+(?!type\s)(?:[^"';]*?\sfrom\s+)?"(\.[^"]+)"/gm),
          (match) => Path.normalize(Path.join(Path.dirname(file), (match[1] ?? "").replace(/\.js$/, ".ts")))
        )
        graph.set(Path.normalize(file), imports)
      }
    }
  }
  visit(root)
  return graph
}

const cycles = (graph: ReadonlyMap<string, ReadonlyArray<string>>): ReadonlyArray<string> => {
  const found: Array<string> = []
  const state = new Map<string, "visiting" | "done">()
  const walk = (node: string, path: ReadonlyArray<string>) => {
    if (state.get(node) === "done") return
    if (state.get(node) === "visiting") {
      found.push([...path.slice(path.indexOf(node)), node].map((file) => Path.basename(file)).join(" → "))
      return
    }
    state.set(node, "visiting")
    for (const next of graph.get(node) ?? []) walk(next, [...path, node])
    state.set(node, "done")
  }
  for (const node of graph.keys()) walk(node, [])
  return found
}

const isInternal = (file: string) => file.split(Path.sep).includes("internal")

for (const pkg of ["core", "testing", "node", "sql", "oidc"]) {
  describe(`module structure of @effect-oauth/${pkg}`, () => {
    const src = Path.normalize(Path.join(import.meta.dirname, "..", "..", pkg, "src"))
    const graph = runtimeImports(src)
    /** The package's modules: the files of `src` itself (sub-folders such as `migrations` hold data). */
    const isPublic = (file: string) => Path.dirname(file) === src

    it("has no runtime import cycle", () => {
      assert.isAbove(graph.size, 5)
      assert.deepStrictEqual(cycles(graph), [])
    })

    it("no internal module imports a public module at runtime", () => {
      const offending = Array.from(graph).flatMap(([file, imports]) =>
        isInternal(file) ? imports.filter(isPublic).map((target) => `${file} → ${target}`) : []
      )
      assert.deepStrictEqual(offending, [])
    })
  })
}

const repository = Path.join(import.meta.dirname, "..", "..", "..")

/** Every `.ts` file below `dir`, relative to the repository. */
const sources = (dir: string): ReadonlyArray<string> =>
  Fs.existsSync(dir)
    ? Fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
      const file = Path.join(dir, entry.name)
      if (entry.isDirectory()) return sources(file)
      return entry.name.endsWith(".ts") ? [Path.relative(repository, file)] : []
    })
    : []

/** The library packages: every package but the private ones (the benchmarks' `packages/bench`). */
const libraryPackages = Fs.readdirSync(Path.join(repository, "packages")).filter((pkg) =>
  JSON.parse(Fs.readFileSync(Path.join(repository, "packages", pkg, "package.json"), "utf8")).private !== true
)
const librarySources = libraryPackages.flatMap((pkg) => sources(Path.join(repository, "packages", pkg, "src")))
const exampleSources = Fs.readdirSync(Path.join(repository, "examples")).flatMap((example) =>
  sources(Path.join(repository, "examples", example, "src"))
)

const lineCount = (file: string) => Fs.readFileSync(Path.join(repository, file), "utf8").split("\n").length - 1

/** The most lines a source file may have: a file over it holds more than one concept. */
const maxLines = 600

describe("source files", () => {
  it("no library or example source file is over 600 lines", () => {
    const files = [...librarySources, ...exampleSources]
    assert.isAbove(files.length, 50)
    const over = files.flatMap((file) => {
      const lines = lineCount(file)
      return lines > maxLines ? [`${file}: ${lines} lines, at most ${maxLines}`] : []
    })
    assert.deepStrictEqual(over, [])
  })

  it("library source never runs an effect itself (no runSync, runPromise or runFork)", () => {
    const runner = /\.run(?:Sync|Promise|Fork|Callback)\w*\b/
    // The Promise-facing edges, where a caller outside Effect asks for a value: each runs in the
    // runtime of the effect that built it, never a default one.
    const edges = [
      "packages/core/src/AccessTokens.ts", // supplier: a token for an SDK's `apiKey: () => Promise<string>`
      "packages/node/src/CredalSdk.ts", // fetcher: the Credal SDK's fetch function
      "packages/testing/src/TokenStoreSuite.ts" // a vitest suite: its hooks start the stores under test
    ]
    for (const edge of edges) assert.match(Fs.readFileSync(Path.join(repository, edge), "utf8"), runner, edge)
    const offending = librarySources.filter((file) => !edges.includes(file)).flatMap((file) =>
      Fs.readFileSync(Path.join(repository, file), "utf8").split("\n").flatMap((line, i) => {
        const code = line.trimStart()
        // JSDoc examples run effects, as users do; comments do not count.
        if (code.startsWith("*") || code.startsWith("/*") || code.startsWith("//")) return []
        return runner.test(code) ? [`${file}:${i + 1}: ${code}`] : []
      })
    )
    assert.deepStrictEqual(offending, [])
  })
})
