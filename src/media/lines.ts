/**
 * Splits text that comes in chunks (a pipe ffmpeg writes, its progress file) into lines: a line cut
 * between chunks is given whole, a CR before the newline is dropped, and `end` gives a last line
 * that has no newline. Plain splitting: readline's interface, made for terminals, cost more than the
 * parsing itself at two progress blocks a second per camera.
 */
export class LineSplitter {
  private rest = '';

  constructor(private readonly onLine: (line: string) => void) {}

  /** Whether part of a line is held, waiting for its end. */
  get pending(): boolean {
    return this.rest !== '';
  }

  push(chunk: string): void {
    let start = 0;
    for (let nl = chunk.indexOf('\n'); nl !== -1; nl = chunk.indexOf('\n', start)) {
      const line = chunk.slice(start, nl);
      start = nl + 1;
      if (this.rest) {
        const whole = this.rest + line;
        this.rest = '';
        this.onLine(whole.endsWith('\r') ? whole.slice(0, -1) : whole);
      } else {
        this.onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
      }
    }
    this.rest += chunk.slice(start);
  }

  end(): void {
    const last = this.rest;
    this.rest = '';
    if (last) this.onLine(last.endsWith('\r') ? last.slice(0, -1) : last);
  }
}
