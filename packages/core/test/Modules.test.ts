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

for (const pkg of ["core", "testing"]) {
  describe(`module structure of @effect-oauth/${pkg}`, () => {
    const graph = runtimeImports(Path.join(import.meta.dirname, "..", "..", pkg, "src"))

    it("has no runtime import cycle", () => {
      assert.isAbove(graph.size, 5)
      assert.deepStrictEqual(cycles(graph), [])
    })

    it("no internal module imports a public module at runtime", () => {
      const offending = Array.from(graph).flatMap(([file, imports]) =>
        isInternal(file) ? imports.filter((target) => !isInternal(target)).map((target) => `${file} → ${target}`) : []
      )
      assert.deepStrictEqual(offending, [])
    })
  })
}
