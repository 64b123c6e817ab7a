const pad = (n: number): string => (n < 10 ? `0${n}` : String(n));

/**
 * The `HH:MM:SS ` column. Formatting a date per line would be the most expensive thing on
 * the hot path; the text changes once a second, so it is rebuilt only then.
 */
export class SecondsClock {
  private second = -1;
  private text = '';
  /** Bumped whenever the text changes, so callers can cache what they build from it. */
  epoch = 0;

  constructor(private readonly now: () => number = Date.now) {}

  tick(): string {
    const ms = this.now();
    const second = Math.floor(ms / 1000);
    if (second !== this.second) {
      this.second = second;
      const d = new Date(ms);
      this.text = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} `;
      this.epoch++;
    }
    return this.text;
  }
}
