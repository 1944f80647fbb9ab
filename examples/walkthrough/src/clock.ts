/**
 * A `Clock` that can jump ahead: the live clock plus an offset. `TestClock` belongs to tests; a demo
 * runs on real time, so it installs this clock with `Effect.withClock` and moves the offset.
 */
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"

export interface TimeTravelClock {
  readonly clock: Clock.Clock
  /** Moves the clock forward; every `Clock.currentTimeMillis` / `DateTime.now` sees it at once. */
  readonly advance: (duration: Duration.DurationInput) => Effect.Effect<void>
}

export const makeTimeTravelClock = (): TimeTravelClock => {
  const live = Clock.make()
  let offsetMillis = 0
  const millis = () => live.unsafeCurrentTimeMillis() + offsetMillis
  const nanos = () => live.unsafeCurrentTimeNanos() + BigInt(offsetMillis) * 1_000_000n
  return {
    clock: {
      [Clock.ClockTypeId]: Clock.ClockTypeId,
      unsafeCurrentTimeMillis: millis,
      currentTimeMillis: Effect.sync(millis),
      unsafeCurrentTimeNanos: nanos,
      currentTimeNanos: Effect.sync(nanos),
      // Sleeping still takes real time: only "now" is shifted.
      sleep: (duration) => live.sleep(duration)
    },
    advance: (duration) =>
      Effect.sync(() => {
        offsetMillis += Duration.toMillis(duration)
      })
  }
}
