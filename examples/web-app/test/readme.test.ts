/**
 * The README cannot drift: every ```ts block is written to its own module and type-checked, strictly
 * and with NodeNext resolution, against the built packages (their `dist` through the workspace links,
 * as an application would import them); the install line names the versions this workspace uses.
 */
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { assert, describe, it } from "vitest"

const exampleRoot = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "..")
const repositoryRoot = Path.resolve(exampleRoot, "..", "..")
const readme = Fs.readFileSync(Path.join(repositoryRoot, "README.md"), "utf8")

/** The ```ts blocks of the README, in order. */
const snippets = Array.from(readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm), (match) => match[1] ?? "")

const tsconfig = {
  compilerOptions: {
    target: "ES2022",
    module: "NodeNext",
    moduleResolution: "NodeNext",
    lib: ["ES2022", "DOM", "DOM.Iterable"],
    types: ["node"],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    noImplicitOverride: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    skipLibCheck: true,
    noEmit: true
  },
  include: ["*.ts"]
}

const installedVersion = (name: string): string => {
  const manifest: unknown = JSON.parse(
    Fs.readFileSync(Path.join(exampleRoot, "node_modules", ...name.split("/"), "package.json"), "utf8")
  )
  assert.isTrue(typeof manifest === "object" && manifest !== null && "version" in manifest)
  return typeof manifest === "object" && manifest !== null && "version" in manifest ? String(manifest.version) : ""
}

describe("README", () => {
  it("every ts block is a complete program that type-checks strictly (NodeNext) against the built packages", () => {
    assert.isAtLeast(snippets.length, 8)
    const directory = Path.join(exampleRoot, "build", "readme")
    Fs.rmSync(directory, { recursive: true, force: true })
    Fs.mkdirSync(directory, { recursive: true })
    Fs.writeFileSync(Path.join(directory, "package.json"), JSON.stringify({ type: "module", private: true }))
    Fs.writeFileSync(Path.join(directory, "tsconfig.json"), JSON.stringify(tsconfig, null, 2))
    snippets.forEach((snippet, index) => {
      assert.match(snippet, /^import /m, `snippet ${index + 1} has its imports`)
      Fs.writeFileSync(Path.join(directory, `snippet-${String(index + 1).padStart(2, "0")}.ts`), snippet)
    })
    const tsc = Path.join(repositoryRoot, "node_modules", "typescript", "bin", "tsc")
    const result = ChildProcess.spawnSync(process.execPath, [tsc, "-p", Path.join(directory, "tsconfig.json")], {
      encoding: "utf8",
      timeout: 240_000
    })
    assert.strictEqual(result.stdout + result.stderr, "", "the README's snippets have type errors")
    assert.strictEqual(result.status, 0)
  }, 300_000)

  it("the install line is one copyable command with the exact peer versions of this workspace (Effect 3)", () => {
    const lines = readme.split("\n").filter((line) => line.startsWith("npm install @effect-oauth/core"))
    assert.strictEqual(lines.length, 1)
    const line = lines[0] ?? ""
    for (
      const name of [
        "effect",
        "@effect/platform",
        "@effect/platform-node",
        "@effect/cluster",
        "@effect/rpc",
        "@effect/sql"
      ]
    ) {
      assert.include(line.split(" "), `${name}@${installedVersion(name)}`, name)
    }
    assert.match(installedVersion("effect"), /^3\./)
    assert.include(readme, "serves the **Effect 3 line**")
    assert.include(readme, "not Effect 4")
  })
})
