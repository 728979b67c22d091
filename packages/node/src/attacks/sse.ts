/**
 * A server-sent events parser (the WHATWG event-stream format): `event:` and `data:` fields,
 * comments, CRLF/CR/LF line ends, events dispatched at a blank line. Bounded: a line or an event
 * larger than `maxBytes` makes `push` return false (the caller drops the connection).
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private dataLength = 0;

  constructor(
    private readonly onEvent: (event: string, data: string) => void,
    private readonly maxBytes = 1 << 20,
  ) {}

  /** Feeds decoded text; false when a limit was exceeded. */
  push(chunk: string): boolean {
    let buf = this.buffer + chunk;
    let start = 0;
    for (;;) {
      const lf = buf.indexOf('\n', start);
      const cr = buf.indexOf('\r', start);
      let end: number;
      let next: number;
      if (cr !== -1 && (lf === -1 || cr < lf)) {
        // A CR at the very end may be the first half of a CRLF: wait for more.
        if (cr === buf.length - 1) break;
        end = cr;
        next = buf.charCodeAt(cr + 1) === 10 ? cr + 2 : cr + 1;
      } else if (lf !== -1) {
        end = lf;
        next = lf + 1;
      } else break;
      if (!this.line(buf.slice(start, end))) return false;
      start = next;
    }
    buf = buf.slice(start);
    this.buffer = buf;
    return buf.length <= this.maxBytes;
  }

  private line(line: string): boolean {
    if (line === '') {
      if (this.data.length > 0) {
        const event = this.event === '' ? 'message' : this.event;
        const data = this.data.join('\n');
        this.reset();
        this.onEvent(event, data);
      } else this.reset();
      return true;
    }
    if (line.charCodeAt(0) === 58 /* : */) return true;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') {
      this.dataLength += value.length + 1;
      if (this.dataLength > this.maxBytes) return false;
      this.data.push(value);
    }
    // id and retry are not used: the client keeps its own reconnect policy.
    return true;
  }

  private reset(): void {
    this.event = '';
    this.data = [];
    this.dataLength = 0;
  }
}
