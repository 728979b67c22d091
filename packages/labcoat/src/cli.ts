import { Command, Option } from 'commander';
import { FAULT_KINDS } from '@labcoat/core';
import { printDemo, runDemo } from './demo.js';
import { signCommand, verifyCommand, type SignOptions } from './plan-command.js';

const program = new Command();
program.name('labcoat').description('failure testing for microservices').version('0.1.0').showHelpAfterError();

program
  .command('demo')
  .description('start the example services and show signed fault plans at work')
  .option('--json', 'print the result as JSON')
  .action(async (o: { json?: boolean }) => {
    const progress = (line: string) => process.stderr.write(`labcoat: ${line}\n`);
    const report = await runDemo(progress);
    if (o.json) console.log(JSON.stringify(report));
    else printDemo(report);
    process.exitCode = report.ok ? 0 : 1;
  });

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
