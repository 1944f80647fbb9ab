/**
 * vitest `globalSetup` of the sql project: a throwaway PostgreSQL cluster for the tests, provided as
 * `inject("pgUrl")`.
 *
 * - `OAUTH_TEST_PG_URL` set: that database is used as it is (nothing is started or stopped).
 * - Otherwise the newest `/usr/lib/postgresql/<version>/bin` (or `initdb` on the PATH) initializes a
 *   fresh cluster in a temporary directory and starts it on 127.0.0.1 at a free port (socket in the
 *   same directory). As root it runs as the `postgres` OS user (initdb refuses root). Teardown stops
 *   it and deletes the directory.
 * - No PostgreSQL binaries: the run FAILS, saying to install the `postgresql` package.
 *
 * The bench reuses `startPostgres`.
 */
import { execFile } from "node:child_process"
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { promisify } from "node:util"
import type { TestProject } from "vitest/node"

declare module "vitest" {
  export interface ProvidedContext {
    /** The URL of the tests' PostgreSQL database. */
    pgUrl: string
  }
}

const run = promisify(execFile)

/** A running database and how to stop it. */
export interface Postgres {
  readonly url: string
  readonly stop: () => Promise<void>
  /** Stops the server at once (`-m immediate`, like a crash), keeping its data (all of it if `durable`). */
  readonly halt: () => Promise<void>
  /** Starts the halted server again, on the same port. */
  readonly resume: () => Promise<void>
}

const missing = "PostgreSQL is needed by the @effect-oauth/sql tests and none was found: install the `postgresql` " +
  "package (Debian/Ubuntu: `apt-get install -y postgresql`; CI installs it), or set OAUTH_TEST_PG_URL to the URL " +
  "of an empty database."

/** The directory of `initdb` and `pg_ctl`: the newest /usr/lib/postgresql/<version>/bin, else the PATH. */
export const findBinaries = (): string | undefined => {
  const base = "/usr/lib/postgresql"
  const versions = existsSync(base)
    ? readdirSync(base)
      .filter((name) => /^\d+(\.\d+)?$/.test(name) && existsSync(path.join(base, name, "bin", "initdb")))
      .sort((a, b) => Number(b) - Number(a))
    : []
  const newest = versions[0]
  if (newest !== undefined) return path.join(base, newest, "bin")
  return (process.env["PATH"] ?? "").split(path.delimiter).find((dir) =>
    dir.length > 0 && existsSync(path.join(dir, "initdb")) && existsSync(path.join(dir, "pg_ctl"))
  )
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      const port = typeof address === "object" && address !== null ? address.port : 0
      server.close(() => resolve(port))
    })
  })

/**
 * Starts a fresh cluster with one database, `effect_oauth_test`. With `durable`, a commit is written
 * out before it is acknowledged (`synchronous_commit=on`), so a `halt` loses no committed write; by
 * default commits are acknowledged first (faster), and a halt may lose the last fraction of a second.
 */
export const startPostgres = async (settings: { readonly durable?: boolean } = {}): Promise<Postgres> => {
  const bin = findBinaries()
  if (bin === undefined) throw new Error(missing)
  const root = process.getuid?.() === 0
  const dir = mkdtempSync(path.join(os.tmpdir(), "effect-oauth-pg-"))
  const data = path.join(dir, "data")
  // As root, every server command runs as the postgres OS user, which must own the directory.
  const asServer = async (command: string, args: ReadonlyArray<string>) => {
    const file = path.join(bin, command)
    return root
      ? run("runuser", ["-u", "postgres", "--", file, ...args], { cwd: dir })
      : run(file, [...args], { cwd: dir })
  }
  try {
    if (root) {
      const { stdout: uid } = await run("id", ["-u", "postgres"]).catch(() => {
        throw new Error(`Running as root, the PostgreSQL tests need the \`postgres\` OS user. ${missing}`)
      })
      const { stdout: gid } = await run("id", ["-g", "postgres"])
      chownSync(dir, Number(uid.trim()), Number(gid.trim()))
    }
    await asServer("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-locale"])
    const port = await freePort()
    const options = [
      `-k ${dir}`,
      "-h 127.0.0.1",
      `-p ${port}`,
      "-c max_connections=300",
      "-c fsync=off",
      `-c synchronous_commit=${settings.durable === true ? "on" : "off"}`,
      "-c full_page_writes=off"
    ].join(" ")
    const startServer = () =>
      asServer("pg_ctl", ["-D", data, "-l", path.join(dir, "server.log"), "-w", "-t", "60", "-o", options, "start"])
    await startServer()
    const halt = async () => {
      await asServer("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"])
    }
    const resume = async () => {
      await startServer()
    }
    const stop = async () => {
      await asServer("pg_ctl", ["-D", data, "-m", "immediate", "-w", "stop"]).catch(() => undefined)
      rmSync(dir, { recursive: true, force: true })
    }
    try {
      await run(path.join(bin, "createdb"), [
        "-h",
        "127.0.0.1",
        "-p",
        String(port),
        "-U",
        "postgres",
        "effect_oauth_test"
      ])
    } catch (error) {
      await stop()
      throw error
    }
    return { url: `postgres://postgres@127.0.0.1:${port}/effect_oauth_test`, stop, halt, resume }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env["OAUTH_TEST_PG_URL"]
  if (given !== undefined && given.length > 0) {
    project.provide("pgUrl", given)
    return async () => {}
  }
  const postgres = await startPostgres()
  project.provide("pgUrl", postgres.url)
  return postgres.stop
}
