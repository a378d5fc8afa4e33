/*
 * Preloaded with `node --require` into a server under test: moves this process's wall clock (Date) by
 * CLOCK_SKEW_MS, as on a host whose clock is off. Timers and performance.now() are left alone, as they are on
 * such a host; only "what time is it" is wrong. Child processes (cluster workers) inherit it through NODE_OPTIONS.
 */
const skewMs = Number(process.env['CLOCK_SKEW_MS'] ?? '0');
const RealDate = Date;

class SkewedDate extends RealDate {
  constructor(...args: ConstructorParameters<DateConstructor> | []) {
    if (args.length === 0) super(RealDate.now() + skewMs);
    else super(...(args as [string | number | Date]));
  }

  static override now(): number {
    return RealDate.now() + skewMs;
  }
}

globalThis.Date = SkewedDate as DateConstructor;

export {};
