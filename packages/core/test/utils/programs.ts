/**
 * Random programs for the token lifecycle property (`AccessTokens.property.test.ts`): the step
 * vocabulary, its fast-check arbitraries, and a readable rendering of a program.
 */
import * as fc from "effect/FastCheck"

/** How many of the next store writes fail: a count, or every write until `Heal`. */
export type Times = number | "always"

/** A fault queued on the fake server's token endpoint (refresh requests only). */
export type ServerFault =
  /** Every matching request waits `seconds` before it is handled; over 30 s the client times out first. */
  | { readonly _tag: "Delay"; readonly seconds: number; readonly times: number }
  /** The server rotates the refresh token, then the connection drops: the client never sees the answer. */
  | { readonly _tag: "CommitThenDrop" }
  /** The connection drops before the server handles the request: nothing changes. */
  | { readonly _tag: "TransportError" }
  | { readonly _tag: "Status503"; readonly times: number }
  | {
    readonly _tag: "MalformedBody"
    readonly kind: "html" | "empty" | "not-json" | "missing-access-token" | "wrong-token-type"
  }

/** One step of a program. Processes and keys are indices (`p0`…, `k0`…). */
export type Step =
  /** Forks one `get` per call, all at once; with `settle`, waits (moving the clock) until they are done. */
  | {
    readonly _tag: "Get"
    readonly calls: ReadonlyArray<readonly [process: number, key: number]>
    readonly settle: boolean
  }
  /** `TestClock.adjust`; pending gets move along with the clock. */
  | { readonly _tag: "Advance"; readonly millis: number }
  /**
   * Moves the clock to the refresh point (expiry − 60 s) of the newest tokens the client received for
   * the key, plus `offset`; does nothing when that is not in the future.
   */
  | { readonly _tag: "ToRefreshPoint"; readonly key: number; readonly offset: number }
  /** The API rejected the last token this process received for the key (the stored one when none). */
  | { readonly _tag: "Invalidate"; readonly process: number; readonly key: number }
  /** Moves the clock by `after`, then interrupts pending gets. */
  | { readonly _tag: "Interrupt"; readonly after: number; readonly which: "all" | "oldest" | "newest" }
  /** `TestTokenStore.failWrites`. */
  | { readonly _tag: "FailWrites"; readonly times: Times; readonly afterWrite: boolean }
  /** `TestTokenStore.loseLocks`: only in the degraded-store property. */
  | { readonly _tag: "LoseLocks"; readonly times: Times }
  /**
   * The process shuts down (its scope closes, interrupting its refreshes in flight) and a new one takes
   * its place, with an empty cache, while the old one finishes. Gets forked on it just before may only
   * start once it is closing.
   */
  | { readonly _tag: "Restart"; readonly process: number }
  /** Heals the store and clears the server's pending faults. */
  | { readonly _tag: "Heal" }
  | { readonly _tag: "ServerFault"; readonly fault: ServerFault }
  /** Waits (moving the clock) until every pending get and every refresh in flight is done. */
  | { readonly _tag: "Settle" }

export interface Program {
  readonly processes: number
  readonly keys: number
  readonly steps: ReadonlyArray<Step>
}

/** The write retry budget of `AccessTokens` (5 tries): this many failures in a row are always absorbed. */
export const absorbedWriteFailures = 4

const second = 1000
const minute = 60 * second
const hour = 60 * minute
const day = 24 * hour

/** `1d2h3m4s5ms`, `0ms`, `-1s`. */
export const duration = (millis: number): string => {
  if (millis === 0) return "0ms"
  const sign = millis < 0 ? "-" : ""
  let rest = Math.abs(millis)
  let text = ""
  for (const [unit, size] of [["d", day], ["h", hour], ["m", minute], ["s", second], ["ms", 1]] as const) {
    const n = Math.floor(rest / size)
    if (n > 0) text += `${n}${unit}`
    rest -= n * size
  }
  return sign + text
}

const faultText = (fault: ServerFault): string => {
  switch (fault._tag) {
    case "Delay":
      return `Delay ${fault.seconds}s ×${fault.times}`
    case "Status503":
      return `503 ×${fault.times}`
    case "MalformedBody":
      return `MalformedBody ${fault.kind}`
    default:
      return fault._tag
  }
}

export const stepText = (step: Step): string => {
  switch (step._tag) {
    case "Get":
      return `get(${step.calls.map(([p, k]) => `p${p}:k${k}`).join(", ")})${step.settle ? " settle" : ""}`
    case "Advance":
      return `advance ${duration(step.millis)}`
    case "ToRefreshPoint":
      return `to refresh point of k${step.key} ${step.offset >= 0 ? "+" : ""}${duration(step.offset)}`
    case "Invalidate":
      return `invalidate p${step.process}:k${step.key}`
    case "Interrupt":
      return `interrupt ${step.which} after ${duration(step.after)}`
    case "FailWrites":
      return `failWrites ${step.times}${step.afterWrite ? " afterWrite" : ""}`
    case "LoseLocks":
      return `loseLocks ${step.times}`
    case "Restart":
      return `restart p${step.process}`
    case "Heal":
      return "heal"
    case "ServerFault":
      return `server ${faultText(step.fault)}`
    case "Settle":
      return "settle"
  }
}

export const programText = (program: Program): string =>
  [
    `${program.processes} process(es), ${program.keys} keys:`,
    ...program.steps.map((step, i) => `  ${String(i + 1).padStart(2)}. ${stepText(step)}`)
  ].join("\n")

/** Process and key indices modulo the program's counts, so that shrinking the counts keeps steps valid. */
const normalize = (program: Program, options: ProgramOptions): Program => {
  const restarts = program.steps.some((step) => step._tag === "Restart")
  return {
    ...program,
    steps: program.steps.map((step): Step => {
      switch (step._tag) {
        case "Get":
          return {
            ...step,
            calls: step.calls.map(([p, k]) => [p % program.processes, k % program.keys] as const)
          }
        case "ToRefreshPoint":
          return { ...step, key: step.key % program.keys }
        case "Invalidate":
          return { ...step, process: step.process % program.processes, key: step.key % program.keys }
        case "Restart":
          return { ...step, process: step.process % program.processes }
        case "FailWrites":
          return options.boundWriteFailures && (program.processes > 1 || restarts)
            ? {
              ...step,
              times: step.times === "always" ? absorbedWriteFailures : Math.min(step.times, absorbedWriteFailures)
            }
            : step
        default:
          return step
      }
    })
  }
}

/** The rendered program is what fast-check prints as the counterexample. */
const withText = (program: Program): Program =>
  Object.defineProperty({ ...program }, fc.toStringMethod, { value: () => programText(program), enumerable: false })

export interface ProgramOptions {
  readonly processes: { readonly min: number; readonly max: number }
  /**
   * With more than one process, or with restarts, write failures stay within the retry budget: beyond
   * it, new tokens that could not be stored live only in the memory of the process that got them, so
   * another process (or the same one after a restart) can only send the old refresh token.
   */
  readonly boundWriteFailures: boolean
  /** Adds `LoseLocks` steps. */
  readonly loseLocks: boolean
}

const small = fc.integer({ min: 1, max: 10 * minute })

const advance = fc.oneof(
  small,
  fc.constantFrom(59 * minute - 1, 59 * minute, 59 * minute + 1, hour - 1, hour, hour + 1),
  fc.integer({ min: 50 * minute, max: 70 * minute }),
  fc.constantFrom(30 * day, 30 * day - hour, 29 * day + 23 * hour + 59 * minute)
)

const serverFault: fc.Arbitrary<ServerFault> = fc.oneof(
  fc.record({
    _tag: fc.constant("Delay" as const),
    seconds: fc.constantFrom(1, 10, 29, 31, 45),
    times: fc.integer({ min: 1, max: 2 })
  }),
  fc.constant({ _tag: "CommitThenDrop" as const }),
  fc.constant({ _tag: "TransportError" as const }),
  fc.record({ _tag: fc.constant("Status503" as const), times: fc.integer({ min: 1, max: 2 }) }),
  fc.record({
    _tag: fc.constant("MalformedBody" as const),
    kind: fc.constantFrom<"html" | "empty" | "not-json" | "missing-access-token" | "wrong-token-type">(
      "html",
      "empty",
      "not-json",
      "missing-access-token",
      "wrong-token-type"
    )
  })
)

const times: fc.Arbitrary<Times> = fc.oneof(fc.integer({ min: 1, max: 6 }), fc.constant("always" as const))

const index = fc.nat({ max: 3 })

const step = (options: ProgramOptions): fc.Arbitrary<Step> =>
  fc.oneof(
    {
      weight: 6,
      arbitrary: fc.record({
        _tag: fc.constant("Get" as const),
        calls: fc.array(fc.tuple(index, index), { minLength: 1, maxLength: 6 }),
        settle: fc.boolean()
      })
    },
    { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Advance" as const), millis: advance }) },
    {
      weight: 3,
      arbitrary: fc.record({
        _tag: fc.constant("ToRefreshPoint" as const),
        key: index,
        offset: fc.constantFrom(-second, -1, 0, 1, second, minute - 1, minute, minute + 1)
      })
    },
    {
      weight: 2,
      arbitrary: fc.record({ _tag: fc.constant("Invalidate" as const), process: index, key: index })
    },
    {
      weight: 2,
      arbitrary: fc.record({
        _tag: fc.constant("Interrupt" as const),
        after: fc.constantFrom(0, 1, second, 10 * second, 29 * second, 31 * second),
        which: fc.constantFrom<"all" | "oldest" | "newest">("all", "oldest", "newest")
      })
    },
    {
      weight: 2,
      arbitrary: fc.record({ _tag: fc.constant("FailWrites" as const), times, afterWrite: fc.boolean() })
    },
    {
      weight: options.loseLocks ? 2 : 0,
      arbitrary: fc.record({ _tag: fc.constant("LoseLocks" as const), times })
    },
    { weight: 2, arbitrary: fc.record({ _tag: fc.constant("Restart" as const), process: index }) },
    { weight: 1, arbitrary: fc.constant({ _tag: "Heal" as const }) },
    { weight: 3, arbitrary: fc.record({ _tag: fc.constant("ServerFault" as const), fault: serverFault }) },
    { weight: 1, arbitrary: fc.constant({ _tag: "Settle" as const }) }
  )

/** Programs of 5 to 15 steps over 2 to 4 keys. */
export const program = (options: ProgramOptions): fc.Arbitrary<Program> =>
  fc.record({
    processes: fc.integer(options.processes),
    keys: fc.integer({ min: 2, max: 4 }),
    steps: fc.array(step(options), { minLength: 5, maxLength: 15 })
  }).map((raw) => withText(normalize(raw, options)))

/** A program written by hand, rendered like a generated one. */
export const make = (program: Program): Program => withText(program)

/**
 * Shrunk counterexamples the property found in `AccessTokens`, kept as regression programs for the
 * strict property.
 */
export const counterexamples: ReadonlyArray<{ readonly name: string; readonly program: Program }> = [
  {
    name: "a refresh answer slower than the request timeout is committed by the server but thrown away (S17, S22)",
    program: make({
      processes: 1,
      keys: 2,
      steps: [
        { _tag: "ServerFault", fault: { _tag: "Delay", seconds: 31, times: 1 } },
        { _tag: "ToRefreshPoint", key: 0, offset: 0 },
        { _tag: "Get", calls: [[0, 0]], settle: true },
        { _tag: "Get", calls: [[0, 0]], settle: true }
      ]
    })
  },
  {
    name: "a dead refresh token is sent again when the write that clears it fails once (S17, S21)",
    program: make({
      processes: 2,
      keys: 2,
      steps: [
        { _tag: "ServerFault", fault: { _tag: "CommitThenDrop" } },
        { _tag: "ToRefreshPoint", key: 0, offset: 0 },
        { _tag: "Get", calls: [[0, 0]], settle: true },
        { _tag: "FailWrites", times: 1, afterWrite: false },
        { _tag: "Get", calls: [[0, 0]], settle: true },
        { _tag: "Get", calls: [[1, 0]], settle: true }
      ]
    })
  },
  {
    name: "a get that starts as its process shuts down hangs for ever",
    program: make({
      processes: 1,
      keys: 2,
      steps: [
        { _tag: "ToRefreshPoint", key: 0, offset: 0 },
        { _tag: "Get", calls: [[0, 0]], settle: false },
        { _tag: "Restart", process: 0 },
        { _tag: "Settle" }
      ]
    })
  },
  {
    name: "a get waiting on a refresh hangs for ever when its process shuts down (S23)",
    program: make({
      processes: 2,
      keys: 2,
      steps: [
        { _tag: "ServerFault", fault: { _tag: "Delay", seconds: 10, times: 1 } },
        { _tag: "ToRefreshPoint", key: 0, offset: 0 },
        { _tag: "Get", calls: [[1, 0], [0, 0]], settle: false },
        { _tag: "Advance", millis: 1000 },
        { _tag: "Restart", process: 0 },
        { _tag: "Settle" }
      ]
    })
  },
  {
    name:
      "a refresh forced by a rejected access token loses its answer, and the rejected token is handed out again (S25, S44)",
    program: make({
      processes: 1,
      keys: 2,
      steps: [
        { _tag: "Get", calls: [[0, 0]], settle: true },
        { _tag: "Invalidate", process: 0, key: 0 },
        { _tag: "ServerFault", fault: { _tag: "TransportError" } },
        { _tag: "Get", calls: [[0, 0]], settle: true },
        { _tag: "Get", calls: [[0, 0]], settle: true }
      ]
    })
  }
]
