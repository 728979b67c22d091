import { Command, Option } from 'commander';
import { FAULT_KINDS } from '@labcoat/core';
import { printDemo, runDemo } from './demo.js';
import { signCommand, verifyCommand, type SignOptions } from './plan-command.js';
import { printSmoke, runSmoke } from './smoke.js';
import { parseBugList, type Streaming } from './streaming.js';
import { finish, interruptible, registerExplore } from './explore/cli-explore.js';
import { registerProxy } from './proxy/cli.js';
import { registerControlPlane } from './server/commands.js';
import { runExploreDemo } from './explore/demo.js';
import { ExploreError } from './explore/errors.js';
import { terminalProgress } from './explore/progress.js';
import { parseDuration } from './duration.js';

const program = new Command();
program.name('labcoat').description('failure testing for microservices').version('0.1.0').showHelpAfterError();
// Usage errors (unknown option, missing argument) exit 2, like every other usage error of this CLI.
program.exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

program
  .command('demo')
  .description('start the demo system (examples/streaming), explore its request classes for failure sets, print them, stop everything')
  .option('--json', 'print the result as JSON')
  .option('--smoke', 'start the streaming demo system (16 processes), send each request class once, check answers and spans, stop')
  .option('--bugs <list>', 'planted bugs to switch on in the streaming system: none, all, or ids separated by commas')
  .option('--max-faults <k>', 'largest fault set to consider', '2')
  .option('--report <file>', 'write the JSON report')
  .option('--html <file>', 'write a self-contained HTML report')
  .option('--class <names>', 'explore only these request classes (comma-separated)')
  .option('--budget <n>', 'experiments per request class at most')
  .option('--time-budget <duration>', 'stop exploring after this long, e.g. 5m')
  .option('--faults <list>', 'fault modes (default error,503,hang)')
  .option('--chain', 'explore the three-service examples/chain instead of examples/streaming')
  .option('--plans', 'the data-plane walkthrough instead: signed plans at work on examples/chain, one fault kind at a time')
  .action(async (o: DemoFlags) => {
    const progress = (line: string) => process.stderr.write(`labcoat: ${line}\n`);
    if (o.smoke) {
      parseBugList(o.bugs); // an unknown id fails here, before anything starts
      let system: Streaming | undefined;
      const interrupt = (signal: NodeJS.Signals): void => {
        progress(`${signal}: stopping services…`);
        void (system?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
      };
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      const report = await runSmoke({ ...(o.bugs !== undefined ? { bugs: o.bugs } : {}), progress, onStarted: (s) => (system = s) });
      process.removeListener('SIGINT', interrupt);
      process.removeListener('SIGTERM', interrupt);
      if (o.json) console.log(JSON.stringify(report));
      else printSmoke(report);
      process.exitCode = report.ok ? 0 : 1;
      return;
    }
    if (o.plans) {
      if (o.bugs !== undefined) throw new Error('--bugs applies to the streaming system, not to --plans');
      const report = await runDemo(progress);
      if (o.json) console.log(JSON.stringify(report));
      else printDemo(report);
      process.exitCode = report.ok ? 0 : 1;
      return;
    }
    await exploreDemo(o);
  });

interface DemoFlags {
  json?: boolean;
  smoke?: boolean;
  bugs?: string;
  maxFaults: string;
  report?: string;
  html?: string;
  class?: string;
  budget?: string;
  timeBudget?: string;
  faults?: string;
  chain?: boolean;
  plans?: boolean;
}

/** `labcoat demo`: explore the demo system's request classes; exit 0 no bugs, 1 bugs, 2 usage/baseline error. */
async function exploreDemo(o: DemoFlags): Promise<void> {
  const maxFaults = Number(o.maxFaults);
  if (!Number.isInteger(maxFaults) || maxFaults < 1 || maxFaults > 8) throw new ExploreError('usage', `--max-faults: expected an integer from 1 to 8, got ${JSON.stringify(o.maxFaults)}`);
  const budget = o.budget === undefined ? undefined : Number(o.budget);
  if (budget !== undefined && (!Number.isInteger(budget) || budget < 1)) throw new ExploreError('usage', `--budget: expected a positive integer, got ${JSON.stringify(o.budget)}`);
  const progress = terminalProgress();
  const stop = interruptible(progress);
  try {
    const report = await runExploreDemo({
      maxFaults,
      progress,
      signal: stop.signal,
      ...(o.bugs !== undefined ? { bugs: o.bugs } : {}),
      ...(budget !== undefined ? { budget } : {}),
      ...(o.timeBudget !== undefined ? { timeBudgetMs: parseDuration(o.timeBudget, '--time-budget') } : {}),
      ...(o.faults ? { faults: o.faults } : {}),
      ...(o.chain ? { chain: true } : {}),
      ...(o.class ? { classes: o.class.split(',').map((c) => c.trim()).filter(Boolean) } : {}),
    });
    if (!o.json) process.stdout.write(`\n${report.system === 'streaming' ? `examples/streaming, bugs on: ${report.bugsOn.join(', ') || 'none'}` : 'examples/chain'}\n`);
    finish(report, o, stop.interrupted());
  } finally {
    stop.dispose();
    progress.stop();
  }
}

registerExplore(program);
registerProxy(program);
registerControlPlane(program);

const plan = program.command('plan').description('sign and check fault plans');
plan
  .command('sign')
  .description('sign a fault plan and print the baggage header that carries it')
  .option('--point <id>', 'exact injection point id, e.g. "edge->profiles GET /profiles/:id"')
  .option('--caller <glob>', 'caller service pattern')
  .option('--target <glob>', 'target service pattern')
  .option('--method <glob>', 'HTTP method or operation pattern')
  .option('--route <glob>', 'route template pattern (* within a segment, ** across)')
  .option('--fault <fault>', `fault: ${[...FAULT_KINDS.keys()].join(', ')}, a status (503), delay:MS, or JSON`)
  .option('--first <n>', 'fire only on the first n attempts of each call')
  .option('--p <probability>', 'fire with this probability (0-1)')
  .option('--ttl <duration>', 'time to live', '10m')
  .option('--id <id>', 'plan id')
  .option('--file <plan.json>', 'read rules (and id/exp) from a JSON file instead of flags')
  .addOption(new Option('--key <secret>', 'signing key').env('LABCOAT_KEY'))
  .option('--json', 'print plan, token and header as JSON')
  .action((o: SignOptions & { json?: boolean }) => signCommand(o));
plan
  .command('verify')
  .description('check a plan token (or "labcoat.plan=…") against the key and show what it contains')
  .argument('<token>')
  .addOption(new Option('--key <secret>', 'signing key').env('LABCOAT_KEY'))
  .option('--json', 'print the result as JSON')
  .action((token: string, o: { key?: string; json?: boolean }) => {
    process.exitCode = verifyCommand(token, o);
  });

program
  .command('faults')
  .description('list the fault kinds a plan can use')
  .option('--json', 'print as JSON')
  .action((o: { json?: boolean }) => {
    const kinds = [...FAULT_KINDS.values()].map((k) => ({ kind: k.name, summary: k.summary }));
    if (o.json) console.log(JSON.stringify(kinds));
    else for (const k of kinds) console.log(`${k.kind.padEnd(10)} ${k.summary}`);
  });

try {
  await program.parseAsync();
} catch (e) {
  process.stderr.write(`labcoat: ${(e as Error).message}\n`);
  process.exitCode = 2;
}
