/**
 * Progress while exploring: a bar on stderr when stderr is a terminal (experiments, hypotheses
 * left, failures found), plain periodic lines otherwise. Never on stdout, so `--json` stays clean.
 */
import cliProgress from 'cli-progress';

export interface ProgressState {
  readonly className: string;
  readonly experiments: number;
  readonly budget: number;
  /** Non-critical failure sets found so far. */
  readonly failures: number;
  readonly critical: number;
  /** Injection points known so far. */
  readonly points?: number;
  /** Hypotheses the engine still has, when it says. */
  readonly hypothesesLeft?: number;
  readonly purpose?: string;
}

export interface ProgressSink {
  startClass(name: string, budget: number): void;
  update(state: ProgressState): void;
  endClass(name: string): void;
  /** A line of its own (services starting, collector address…). */
  log(line: string): void;
  stop(): void;
}

/** Progress nowhere (library API default). */
export const silentProgress: ProgressSink = { startClass() {}, update() {}, endClass() {}, log() {}, stop() {} };

/** Progress as callbacks (library API `onProgress`). */
export function callbackProgress(fn: (state: ProgressState) => void): ProgressSink {
  return { ...silentProgress, update: (s) => fn(s) };
}

/** A bar on a TTY, otherwise a line every `everyMs` and at the end of each class. */
export function terminalProgress(stream: NodeJS.WriteStream = process.stderr, everyMs = 5000): ProgressSink {
  const tty = stream.isTTY === true && process.env['CI'] === undefined;
  let bar: cliProgress.SingleBar | undefined;
  let last = 0;
  let state: ProgressState | undefined;
  const line = (s: ProgressState): string =>
    `labcoat: ${s.className}: ${s.experiments} experiment${s.experiments === 1 ? '' : 's'}` +
    `${s.points !== undefined ? `, ${s.points} points` : ''}${s.hypothesesLeft !== undefined ? `, ${s.hypothesesLeft} hypotheses left` : ''}, ${s.failures} failure set${s.failures === 1 ? '' : 's'}` +
    `${s.critical ? ` (+${s.critical} critical)` : ''}`;
  return {
    startClass(name, budget) {
      state = undefined;
      if (tty) {
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${name.padEnd(12).slice(0, 24)} [{bar}] {value} experiments | {points} points | {left}failures {failures}`,
            barsize: 24,
            hideCursor: true,
            clearOnComplete: true,
            etaBuffer: 20,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(budget, 0, { left: '', failures: 0, points: 0 });
      } else stream.write(`labcoat: exploring ${name}…\n`);
      last = Date.now();
    },
    update(s) {
      state = s;
      if (bar) {
        if (s.experiments > bar.getTotal()) bar.setTotal(s.experiments);
        bar.update(s.experiments, {
          left: s.hypothesesLeft !== undefined ? `hypotheses left ${s.hypothesesLeft} | ` : '',
          points: s.points ?? 0,
          failures: `${s.failures}${s.critical ? ` (+${s.critical} critical)` : ''}`,
        });
      } else if (Date.now() - last >= everyMs) {
        last = Date.now();
        stream.write(`${line(s)}\n`);
      }
    },
    endClass() {
      if (bar) {
        bar.stop();
        bar = undefined;
      }
      if (state) stream.write(`${line(state)} — done\n`);
    },
    log(l) {
      if (bar) bar.stop();
      stream.write(`labcoat: ${l}\n`);
    },
    stop() {
      bar?.stop();
      bar = undefined;
    },
  };
}
