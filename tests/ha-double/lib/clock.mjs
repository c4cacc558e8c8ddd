// The double's injectable clock and the timers that run on it, so tests move time
// (setNow/advance) instead of sleeping. Every expiry in the double reads this clock.

export class DoubleClock {
  #realNow;
  #offsetMs = 0;
  #pinnedMs = null;
  #timers = new Set();
  // Called with the new time whenever a test moves the clock (expiry sweeps hang here).
  listeners = new Set();

  constructor(realNow = Date.now) {
    this.#realNow = realNow;
  }

  now() {
    return this.#pinnedMs ?? this.#realNow() + this.#offsetMs;
  }

  nowSeconds() {
    return Math.floor(this.now() / 1000);
  }

  // Pinning stops real time from moving the clock; only setNow/advance move it afterwards.
  setNow(ms) {
    this.#pinnedMs = ms;
    this.#runDueTimers();
  }

  advance(ms) {
    if (this.#pinnedMs !== null) this.#pinnedMs += ms;
    else this.#offsetMs += ms;
    this.#runDueTimers();
  }

  // Runs `callback` once the clock reaches now + delayMs: either because real time passed
  // (unpinned clock) or because a test moved the clock. Returns a cancel function.
  schedule(delayMs, callback) {
    const timer = { dueAt: this.now() + delayMs, callback, handle: null };
    const fireIfDue = () => {
      if (!this.#timers.has(timer) || this.now() < timer.dueAt) return;
      this.#timers.delete(timer);
      clearTimeout(timer.handle);
      timer.callback();
    };
    timer.fireIfDue = fireIfDue;
    timer.handle = setTimeout(fireIfDue, Math.max(0, delayMs));
    timer.handle.unref?.();
    this.#timers.add(timer);
    return () => {
      this.#timers.delete(timer);
      clearTimeout(timer.handle);
    };
  }

  #runDueTimers() {
    for (const timer of [...this.#timers]) timer.fireIfDue();
    for (const listener of this.listeners) listener(this.now());
  }

  cancelAll() {
    for (const timer of this.#timers) clearTimeout(timer.handle);
    this.#timers.clear();
  }
}

export function isoFromMs(ms) {
  // HA serializes datetimes with isoformat(): microseconds and an explicit +00:00 offset.
  const iso = new Date(ms).toISOString(); // 2025-01-02T03:04:05.678Z
  return `${iso.slice(0, 23)}000+00:00`;
}
