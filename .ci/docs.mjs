#!/usr/bin/env node
// `pnpm run docs`: the API reference of every library package, generated from the JSDoc by @effect/docgen
// (`pnpm docs` itself is taken by pnpm, which hands it to `npm docs` to open a web page),
// into packages/<name>/docs/modules/*.md. docgen type-checks every `@example` against the sources and
// runs it (an example can `assert`, which docgen imports for it); a failing example fails this
// command. Then it lists the exports that have no `@example` yet. With `--enforce-examples`, any
// missing example fails the command (each package's docgen.json can also set "enforceExamples").
//
// docgen 0.5 checks the examples of functions, constants, interfaces, type aliases, namespaces and
// class methods, but not those on a class itself (tags, schemas and errors are classes here), so this
// script checks those the same way: it takes them from the generated pages, type-checks them with the
// package's `examplesCompilerOptions` and runs them with tsx.
import { spawnSync } from "node:child_process"
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const enforce = process.argv.includes("--enforce-examples")
// `pnpm run docs core testing` builds only those packages.
const only = process.argv.slice(2).filter((arg) => !arg.startsWith("--"))
// docgen starts `tsc` and `tsx` from PATH.
const env = { ...process.env, PATH: `${path.join(root, "node_modules", ".bin")}${path.delimiter}${process.env.PATH}` }

const libraries = readdirSync(path.join(root, "packages"))
  .map((name) => ({ name, dir: path.join(root, "packages", name) }))
  .filter(({ dir }) => existsSync(path.join(dir, "docgen.json")))
  .filter(({ name }) => only.length === 0 || only.includes(name))

const exampleBlocks = (section) =>
  section.includes("**Example**")
    ? [...section.split("**Example**")[1].matchAll(/```ts\n([\s\S]*?)```/g)].map((match) => match[1])
    : []

/** Type-checks and runs the examples of classes; answers an error message or undefined. */
const checkClassExamples = (dir, pkg, classExamples) => {
  if (classExamples.length === 0) return undefined
  const examples = path.join(dir, "docs", "class-examples")
  rmSync(examples, { recursive: true, force: true })
  mkdirSync(examples, { recursive: true })
  const own = new RegExp(`from (["'])${pkg.name.replace("/", "\\/")}(?:/(.*?))?\\1`, "g")
  const files = classExamples.map(({ module, name, code }, i) => {
    const file = `${module}-class-${name}-${i}.ts`
    const body = code.replace(own, (_, __, sub) => `from "../../src${sub ? `/${sub}` : ""}"`)
    writeFileSync(
      path.join(examples, file),
      `${body.includes("assert.") ? "import * as assert from \"assert\"\n" : ""}${body}\nexport {}\n`
    )
    return file
  })
  writeFileSync(path.join(examples, "index.ts"), files.map((file) => `import "./${file.slice(0, -3)}"\n`).join(""))
  const { examplesCompilerOptions } = JSON.parse(readFileSync(path.join(dir, "docgen.json"), "utf8"))
  writeFileSync(path.join(examples, "tsconfig.json"), JSON.stringify({ compilerOptions: examplesCompilerOptions }))
  try {
    for (
      const [command, args] of [["tsc", ["--noEmit", "-p", "tsconfig.json"]], ["tsx", [
        "--tsconfig",
        "tsconfig.json",
        "index.ts"
      ]]]
    ) {
      const result = spawnSync(path.join(root, "node_modules", ".bin", command), args, {
        cwd: examples,
        env,
        encoding: "utf8"
      })
      if (result.error) throw result.error
      if (result.status !== 0) return `${command} on the class examples failed:\n${result.stdout}${result.stderr}`
    }
    return undefined
  } finally {
    rmSync(examples, { recursive: true, force: true })
  }
}

let failed = false
const missing = []
for (const { dir, name } of libraries) {
  const started = Date.now()
  const result = spawnSync(path.join(root, "node_modules", ".bin", "docgen"), [], { cwd: dir, env, encoding: "utf8" })
  if (result.error) throw result.error
  if (result.status !== 0) {
    failed = true
    console.error(`${name}: docgen failed\n${result.stdout}${result.stderr}`)
    continue
  }
  const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"))
  const modulesDir = path.join(dir, "docs", "modules")
  let exports = 0
  let examples = 0
  const classExamples = []
  for (const file of readdirSync(modulesDir).filter((file) => file.endsWith(".ts.md")).sort()) {
    const text = readFileSync(path.join(modulesDir, file), "utf8")
    // One heading per documented export (namespace members one level deeper), each with a Signature.
    const sections = text.split(/^#{2,3} /m).slice(1).filter((section) => section.includes("**Signature**"))
    const without = sections.filter((section) => !section.includes("**Example**"))
    for (const section of sections.filter((section) => /^\S+ \(class\)\n/.test(section))) {
      for (const code of exampleBlocks(section)) {
        classExamples.push({ module: file.replace(/\.ts\.md$/, ""), name: section.split(" ")[0], code })
      }
    }
    exports += sections.length
    examples += sections.length - without.length
    if (without.length > 0) {
      const names = without.map((section) => section.split("\n")[0].replace(/ \(.*\)$/, ""))
      missing.push(
        `  ${name}/${file.replace(/\.ts\.md$/, "")} (${without.length} of ${sections.length}): ${names.join(", ")}`
      )
    }
  }
  const classError = checkClassExamples(dir, pkg, classExamples)
  if (classError !== undefined) {
    failed = true
    console.error(`${name}: ${classError}`)
  }
  console.log(
    `${name}: docs/modules built, ${examples} of ${exports} exports with an example (${Date.now() - started} ms)`
  )
}
if (missing.length > 0) {
  console.log(`exports without an @example:\n${missing.join("\n")}`)
}
if (failed || (enforce && missing.length > 0)) process.exit(1)
