/**
 * The states used by callbacks, kept until their pending authorization expires so that a replay is
 * refused (SPEC S2, S9). Bounded by `capacity`, oldest first out; each `use` is O(1) amortised: entries
 * are swept from the oldest end only, and each entry is removed once. Touched only in synchronous steps.
 */
export interface UsedStates {
  /** Marks `state` used until `until`; false when it already was. */
  readonly use: (state: string, until: number, now: number) => boolean
  readonly size: () => number
}

export const make = (capacity: number): UsedStates => {
  // A Map iterates in insertion order: the first entries are the oldest.
  const entries = new Map<string, number>()
  const use = (state: string, until: number, now: number): boolean => {
    for (const [key, at] of entries) {
      if (at > now && entries.size < capacity) break
      entries.delete(key)
    }
    if (entries.has(state)) return false
    entries.set(state, until)
    return true
  }
  return { use, size: () => entries.size }
}
