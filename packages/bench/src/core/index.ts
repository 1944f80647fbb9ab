/**
 * `pnpm bench`: measures the figures of BENCHMARKS.md and prints them as a table. Run with
 * `node --expose-gc`. Exits 1 only when a correctness check fails (one token request for many
 * concurrent callers), never because a speed target is missed.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as Os from "node:os"
import * as AuthorizedRequest from "./authorizedRequest.js"
import * as ConcurrentRefresh from "./concurrentRefresh.js"
import * as GetFresh from "./getFresh.js"
import { type Report, table } from "./harness.js"
import * as Memory from "./memory.js"
import * as Peers from "./peers.js"
import * as RefreshLatency from "./refreshLatency.js"

class BenchmarkFailed extends Data.TaggedError("BenchmarkFailed")<{ readonly failures: ReadonlyArray<string> }> {
  override get message(): string {
    return `Correctness check failed: ${this.failures.join("; ")}`
  }
}

const benchmarks: ReadonlyArray<readonly [string, Effect.Effect<Report>]> = [
  ["get on a fresh token", GetFresh.run],
  ["10 000 concurrent gets at expiry", ConcurrentRefresh.run],
  ["authorized request vs plain HttpClient", AuthorizedRequest.run],
  ["memory per cached key", Memory.run],
  ["a fresh token, side by side with google-auth-library and simple-oauth2", Peers.run],
  ["callers' latency across a refresh", RefreshLatency.run]
]

const main = Effect.gen(function*() {
  if (globalThis.gc === undefined) {
    return yield* new BenchmarkFailed({ failures: ["global.gc is missing: run node with --expose-gc"] })
  }
  const machine = yield* Effect.sync(() => {
    const load = Os.loadavg().map((value) => value.toFixed(2)).join(" ")
    return `node ${process.version}, ${Os.availableParallelism()} CPUs (${
      Os.cpus()[0]?.model.trim() ?? "unknown"
    }), load average ${load}, ${new Date().toISOString()}`
  })
  const reports: Array<Report> = []
  for (const [name, benchmark] of benchmarks) {
    yield* Effect.sync(() => console.error(`running: ${name}…`))
    reports.push(yield* benchmark)
  }
  const loadAfter = yield* Effect.sync(() => Os.loadavg().map((value) => value.toFixed(2)).join(" "))
  yield* Effect.sync(() => {
    console.log(`${machine}; load average at the end ${loadAfter}\n`)
    console.log(table(reports.flatMap((report) => report.rows)))
  })
  const failures = reports.flatMap((report) => report.failure === undefined ? [] : [report.failure])
  if (failures.length > 0) return yield* new BenchmarkFailed({ failures })
})

NodeRuntime.runMain(main)
