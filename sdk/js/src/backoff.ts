/**
 * Reconnect delays: the step doubles per attempt from min up to max, and each
 * delay is drawn uniformly from the upper half of the step, so clients
 * dropped together do not come back together.
 */
export class Backoff {
  private attempt = 0;
  constructor(
    private readonly min: number,
    private readonly max: number,
    private readonly rand: () => number = Math.random,
  ) {}

  /** The delay in ms before the next attempt, within [min/2, max]. */
  next(): number {
    const step = Math.min(this.max, this.min * 2 ** Math.min(this.attempt, 40));
    this.attempt++;
    const half = step / 2;
    return half + this.rand() * (step - half);
  }

  reset(): void {
    this.attempt = 0;
  }
}
