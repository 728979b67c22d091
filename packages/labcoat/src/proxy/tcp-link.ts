/**
 * Toxiproxy's link model on Node streams. A TCP connection through a proxy has two links:
 * upstream (client → server) and downstream (server → client). Each link runs the data through a
 * chain of stages, one per toxic of its direction, in the order the toxics were added; with no
 * toxic, data goes straight from one socket to the other (with backpressure). Toxics can be added,
 * updated and removed while connections are open, as in Toxiproxy: a removed stage hands on the
 * data it held (nothing is dropped), except that removing a `timeout` toxic closes its links.
 */
import type net from 'node:net';
import type { Toxic, ToxicStream } from './toxics.js';

/** Where a stage sends its output. */
interface Sink {
  push(chunk: Buffer): void;
  end(): void;
}

/** Bytes held inside a link's stages above which the source is paused, and below which it resumes. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 1 << 18;

abstract class Stage implements Sink {
  out!: Sink;
  protected closed = false;
  constructor(protected readonly link: Link) {}
  abstract push(chunk: Buffer): void;
  abstract end(): void;
  /** Leaves the chain: hands on what it holds, stops its timers. */
  abstract detach(): void;
}

class NoopStage extends Stage {
  push(chunk: Buffer): void {
    this.out.push(chunk);
  }
  end(): void {
    this.out.end();
  }
  detach(): void {}
}

const END = Symbol('end');
type Item = { data: Buffer | typeof END; due: number };

/** A stage that releases items in order at due times (latency, bandwidth, slicer). */
abstract class TimedStage extends Stage {
  protected queue: Item[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerDue = 0;
  protected lastDue = 0;

  protected enqueue(data: Buffer | typeof END, due: number): void {
    const d = Math.max(due, this.lastDue);
    this.lastDue = d;
    this.queue.push({ data, due: d });
    if (data !== END) this.link.hold(data.length);
    this.pump();
  }

  end(): void {
    this.enqueue(END, 0);
  }

  private pump(): void {
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0]!.due <= now + 0.5) {
      const item = this.queue.shift()!;
      if (item.data === END) this.out.end();
      else {
        this.link.release(item.data.length);
        this.out.push(item.data);
      }
    }
    const head = this.queue[0];
    if (!head) return;
    if (this.timer && this.timerDue === head.due) return;
    clearTimeout(this.timer);
    this.timerDue = head.due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, Math.max(0, head.due - now));
  }

  detach(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const item of this.queue.splice(0)) {
      if (item.data === END) this.out.end();
      else {
        this.link.release(item.data.length);
        this.out.push(item.data);
      }
    }
  }
}

/** latency: each chunk leaves `latency ± jitter` ms after it arrived (no compounding). */
class LatencyStage extends TimedStage {
  constructor(link: Link, private readonly latency: number, private readonly jitter: number) {
    super(link);
  }
  push(chunk: Buffer): void {
    let delay = this.latency;
    if (this.jitter > 0) delay += Math.floor(Math.random() * this.jitter * 2) - this.jitter;
    this.enqueue(chunk, performance.now() + delay);
  }
}

/** bandwidth: rate KB/s; chunks larger than 100 ms worth are split and sent 100 ms apart. */
class BandwidthStage extends TimedStage {
  constructor(link: Link, private readonly rate: number) {
    super(link);
  }
  push(chunk: Buffer): void {
    if (this.rate <= 0) return this.enqueue(chunk, 0);
    const slice = this.rate * 100;
    let t = Math.max(performance.now(), this.lastDue);
    for (let off = 0; off < chunk.length; off += slice) {
      const part = chunk.subarray(off, Math.min(chunk.length, off + slice));
      t += part.length / this.rate; // bytes / (KB/s) = ms
      this.enqueue(part, t);
    }
  }
}

/** slicer: packets of average_size ± size_variation bytes, `delay` µs apart. */
class SlicerStage extends TimedStage {
  constructor(link: Link, private readonly average: number, private readonly variation: number, private readonly delayUs: number) {
    super(link);
  }
  private chunk(start: number, end: number, out: number[]): void {
    // Toxiproxy's recursion, iteratively bounded: split about the middle until within variation.
    if (end - start - this.average <= this.variation) {
      out.push(start, end);
      return;
    }
    const v = this.variation > 0 ? Math.floor(Math.random() * this.variation * 2) - this.variation : 0;
    const mid = Math.min(end - 1, Math.max(start + 1, start + Math.floor((end - start) / 2) + v));
    this.chunk(start, mid, out);
    this.chunk(mid, end, out);
  }
  push(chunk: Buffer): void {
    const cuts: number[] = [];
    this.chunk(0, chunk.length, cuts);
    let t = Math.max(performance.now(), this.lastDue);
    for (let i = 1; i < cuts.length; i += 2) {
      this.enqueue(chunk.subarray(cuts[i - 1]!, cuts[i]!), t);
      t += this.delayUs / 1000;
    }
  }
}

/** slow_close: data passes; the close is held for `delay` ms. */
class SlowCloseStage extends Stage {
  private timer: NodeJS.Timeout | undefined;
  private pendingEnd = false;
  constructor(link: Link, private readonly delay: number) {
    super(link);
  }
  push(chunk: Buffer): void {
    if (!this.pendingEnd) this.out.push(chunk);
  }
  end(): void {
    if (this.pendingEnd) return;
    this.pendingEnd = true;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.out.end();
    }, this.delay);
  }
  detach(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.out.end();
    }
  }
}

/** timeout: drops all data; closes the link after `timeout` ms without data (0: never). */
class TimeoutStage extends Stage {
  private timer: NodeJS.Timeout | undefined;
  constructor(link: Link, private readonly timeout: number) {
    super(link);
    this.arm();
  }
  private arm(): void {
    if (this.timeout <= 0 || this.closed) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.close(), this.timeout);
  }
  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.timer);
    this.out.end();
    this.link.connection.close();
  }
  push(): void {
    this.arm(); // Toxiproxy waits `timeout` anew after every chunk it drops
  }
  end(): void {
    this.close();
  }
  detach(): void {
    // Toxiproxy's Cleanup: removing a timeout toxic closes the links it held.
    this.close();
  }
  /** On update the stage is replaced without closing. */
  replace(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }
}

/** reset_peer: at the first data (or close), waits `timeout` ms, then resets the connection (TCP RST). */
class ResetPeerStage extends Stage {
  private timer: NodeJS.Timeout | undefined;
  constructor(link: Link, private readonly timeout: number) {
    super(link);
  }
  private trigger(): void {
    if (this.closed) return;
    this.closed = true;
    this.timer = setTimeout(() => this.link.connection.reset(), this.timeout);
  }
  push(): void {
    this.trigger();
  }
  end(): void {
    this.trigger();
  }
  detach(): void {
    clearTimeout(this.timer);
  }
}

/** limit_data: passes `bytes` bytes in all (kept across updates), then closes the link. */
class LimitDataStage extends Stage {
  constructor(link: Link, private readonly bytes: number, private readonly state: { sent: number }) {
    super(link);
  }
  push(chunk: Buffer): void {
    if (this.closed) return;
    const remaining = Math.max(0, this.bytes - this.state.sent);
    const part = remaining < chunk.length ? chunk.subarray(0, remaining) : chunk;
    if (part.length > 0) {
      this.state.sent += part.length;
      this.out.push(part);
    }
    if (this.bytes - this.state.sent <= 0) {
      this.closed = true;
      this.out.end();
      this.link.connection.close();
    }
  }
  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.end();
  }
  detach(): void {}
}

function makeStage(link: Link, toxic: Toxic, state: { sent: number }): Stage {
  // Toxicity is drawn per link (connection and direction) when the toxic meets the link, as Toxiproxy does.
  if (!(Math.random() < toxic.toxicity)) return new NoopStage(link);
  switch (toxic.type) {
    case 'latency':
      return new LatencyStage(link, toxic.num('latency'), toxic.num('jitter'));
    case 'bandwidth':
      return new BandwidthStage(link, toxic.num('rate'));
    case 'slicer':
      return new SlicerStage(link, toxic.num('average_size'), toxic.num('size_variation'), toxic.num('delay'));
    case 'slow_close':
      return new SlowCloseStage(link, toxic.num('delay'));
    case 'timeout':
      return new TimeoutStage(link, toxic.num('timeout'));
    case 'reset_peer':
      return new ResetPeerStage(link, toxic.num('timeout'));
    case 'limit_data':
      return new LimitDataStage(link, toxic.num('bytes'), state);
    default:
      return new NoopStage(link);
  }
}

interface Entry {
  toxic: Toxic;
  version: number;
  stage: Stage;
  state: { sent: number };
}

/** One direction of a connection: source socket → stages → destination socket. */
export class Link implements Sink {
  private entries: Entry[] = [];
  private held = 0;
  private sinkBlocked = false;
  private ended = false;
  private inputEnded = false;
  readonly sink: Sink;

  constructor(
    readonly connection: TcpConnection,
    readonly direction: ToxicStream,
    private readonly source: net.Socket,
    private readonly dest: net.Socket,
    toxics: readonly Toxic[],
  ) {
    this.sink = {
      push: (chunk) => {
        if (this.ended || dest.destroyed) return;
        if (!dest.write(chunk)) {
          this.sinkBlocked = true;
          this.flow();
        }
      },
      end: () => {
        if (this.ended) return;
        this.ended = true;
        // The end of the source's data: half-close the destination once its writes are done.
        dest.end();
        connection.linkEnded();
      },
    };
    dest.on('drain', () => {
      this.sinkBlocked = false;
      this.flow();
    });
    for (const t of toxics) this.add(t);
    source.on('data', (chunk: Buffer) => {
      try {
        this.push(chunk);
      } catch {
        connection.destroy(); // never a crash: an unexpected state closes this connection only
      }
    });
    const endInput = (): void => {
      if (this.inputEnded) return;
      this.inputEnded = true;
      this.end();
    };
    source.on('end', endInput);
    source.on('close', endInput);
  }

  private head(): Sink {
    return this.entries[0]?.stage ?? this.sink;
  }

  push(chunk: Buffer): void {
    this.head().push(chunk);
  }

  end(): void {
    this.head().end();
  }

  hold(n: number): void {
    this.held += n;
    if (this.held > HIGH_WATER) this.flow();
  }

  release(n: number): void {
    this.held -= n;
    if (this.held < LOW_WATER) this.flow();
  }

  private flow(): void {
    const stop = this.sinkBlocked || this.held > HIGH_WATER;
    if (stop) {
      if (!this.source.isPaused()) this.source.pause();
    } else if (this.held < LOW_WATER && this.source.isPaused() && !this.source.destroyed) this.source.resume();
  }

  private relink(): void {
    for (let i = 0; i < this.entries.length; i++) this.entries[i]!.stage.out = this.entries[i + 1]?.stage ?? this.sink;
  }

  /** Appends a stage for a new toxic. */
  add(toxic: Toxic): void {
    const state = { sent: 0 };
    const entry: Entry = { toxic, version: toxic.version, stage: makeStage(this, toxic, state), state };
    this.entries.push(entry);
    this.relink();
  }

  /** Rebuilds the stage of an updated toxic (state kept; toxicity drawn again). */
  update(toxic: Toxic): void {
    const i = this.entries.findIndex((e) => e.toxic === toxic);
    if (i === -1) return;
    const e = this.entries[i]!;
    if (e.version === toxic.version) return;
    const next = makeStage(this, toxic, e.state);
    next.out = e.stage.out;
    const old = e.stage;
    if (old instanceof TimeoutStage) old.replace();
    else {
      old.out = next;
      old.detach();
    }
    e.stage = next;
    e.version = toxic.version;
    this.relink();
  }

  /** Removes a toxic's stage, handing on what it held. */
  remove(toxic: Toxic): void {
    const i = this.entries.findIndex((e) => e.toxic === toxic);
    if (i === -1) return;
    const [e] = this.entries.splice(i, 1);
    this.relink();
    e!.stage.out = this.entries[i]?.stage ?? this.sink;
    e!.stage.detach();
  }

  dispose(): void {
    for (const e of this.entries) {
      if (e.stage instanceof TimeoutStage) e.stage.replace();
      else if (e.stage instanceof TimedStage || e.stage instanceof SlowCloseStage || e.stage instanceof ResetPeerStage) {
        e.stage.out = { push: () => {}, end: () => {} };
        e.stage.detach();
      }
    }
    this.entries = [];
  }
}

/** A client connection through a TCP proxy and its upstream connection. */
export class TcpConnection {
  readonly upstreamLink: Link;
  readonly downstreamLink: Link;
  private closed = false;
  private endedLinks = 0;

  constructor(
    readonly client: net.Socket,
    readonly upstream: net.Socket,
    toxics: readonly Toxic[],
    private readonly onClose: (c: TcpConnection) => void,
  ) {
    this.upstreamLink = new Link(this, 'upstream', client, upstream, toxics.filter((t) => t.stream === 'upstream'));
    this.downstreamLink = new Link(this, 'downstream', upstream, client, toxics.filter((t) => t.stream === 'downstream'));
    const closed = (): void => {
      if (this.client.destroyed && this.upstream.destroyed) this.finish();
    };
    client.on('close', closed);
    upstream.on('close', closed);
    // Errors end the link (as Toxiproxy's io.Copy does); the 'close' that follows cleans up.
    client.on('error', () => {});
    upstream.on('error', () => {});
  }

  link(stream: ToxicStream): Link {
    return stream === 'upstream' ? this.upstreamLink : this.downstreamLink;
  }

  linkEnded(): void {
    this.endedLinks++;
  }

  /**
   * A toxic closed the link (timeout, limit_data): as in Toxiproxy the whole connection closes,
   * each socket once what was written to it has been flushed.
   */
  close(): void {
    if (this.closed) return;
    for (const s of [this.client, this.upstream]) if (!s.destroyed) s.end(() => s.destroy());
  }

  /** TCP RST on both sides (reset_peer). */
  reset(): void {
    if (this.closed) return;
    for (const s of [this.client, this.upstream]) {
      if (s.destroyed) continue;
      try {
        s.resetAndDestroy();
      } catch {
        s.destroy();
      }
    }
  }

  /** Closes both sockets now (proxy disabled, deleted, or server stopping). */
  destroy(): void {
    this.client.destroy();
    this.upstream.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.upstreamLink.dispose();
    this.downstreamLink.dispose();
    this.onClose(this);
  }
}
