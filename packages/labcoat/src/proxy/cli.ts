/**
 * `labcoat proxy --config proxies.json [--admin 127.0.0.1:8474] [--otlp URL] [--key …]`: starts the
 * sidecar proxy. Without a config it is just the admin API, like toxiproxy-server.
 */
import { Option, type Command } from 'commander';
import { ProxyServer, DEFAULT_ADMIN, loadProxyFile, type ProxyFile } from './server.js';

interface ProxyFlags {
  config?: string;
  admin?: string | false;
  otlp?: string;
  key?: string;
  control?: string;
  controlToken?: string;
  entry?: string;
  json?: boolean;
}

export function registerProxy(program: Command): void {
  program
    .command('proxy')
    .description('sidecar proxy for services in any language: HTTP-aware faults from signed plans, spans, Toxiproxy-compatible API and toxics')
    .option('--config <file>', 'proxies to start: a JSON array of {name, listen, upstream, service, caller, …} or {"proxies":[…],"routes":{…}}')
    .option('--admin <host:port>', `admin API address (Toxiproxy-compatible) (default: ${DEFAULT_ADMIN})`)
    .option('--no-admin', 'no admin API')
    .addOption(new Option('--otlp <url>', 'OTLP/HTTP JSON traces URL for spans').env('LABCOAT_OTLP_URL'))
    .addOption(new Option('--key <secret>', 'plan signing key shared with the services (without it, plans inject nothing)').env('LABCOAT_KEY'))
    .addOption(new Option('--control <url>', 'labcoat control plane for production attacks (signed feed, lease, dead-man switch)').env('LABCOAT_CONTROL_URL'))
    .addOption(new Option('--control-token <token>', 'a control-plane token with role service').env('LABCOAT_CONTROL_TOKEN'))
    .addOption(new Option('--entry <services>', 'comma list of services whose ingress listeners decide which requests join attacks').env('LABCOAT_ATTACK_ENTRY'))
    .option('--json', 'print the started proxies as one JSON line')
    .action(async (o: ProxyFlags) => {
      const file: ProxyFile = o.config ? loadProxyFile(o.config) : { proxies: [] };
      const admin = o.admin === false ? false : (o.admin ?? file.admin ?? DEFAULT_ADMIN);
      const otlp = o.otlp ?? file.otlp;
      const server = await ProxyServer.start({
        proxies: file.proxies,
        admin,
        ...(o.key ? { key: o.key } : {}),
        ...(otlp ? { otlpUrl: otlp } : {}),
        ...(file.routes ? { routes: file.routes } : {}),
        ...(o.control
          ? { control: { url: o.control, ...(o.controlToken ? { token: o.controlToken } : {}), entryServices: (o.entry ?? '').split(',').map((e) => e.trim()).filter(Boolean) } }
          : {}),
      }).catch((e: unknown) => {
        throw new Error(((e as Error)?.message ?? String(e)).replace(/^labcoat: /, ''));
      });
      const stop = (code: number): void => {
        void server.close().finally(() => process.exit(code));
      };
      process.once('SIGINT', () => stop(130));
      process.once('SIGTERM', () => stop(143));
      if (process.env['LABCOAT_WATCH_STDIN'] === '1') {
        // Started by a launcher: stop when it goes away.
        process.stdin.on('end', () => stop(0)).on('error', () => stop(0)).resume();
      }
      const proxies = server.list().map((p) => p.toJSON());
      if (o.json) console.log(JSON.stringify({ admin: server.adminUrl ?? null, proxies }));
      else {
        if (server.adminUrl) process.stderr.write(`labcoat proxy: admin API on ${server.adminUrl}\n`);
        for (const p of proxies) {
          const what = p.protocol === 'http' ? `http ${p.ingress ? `ingress of ${p.service}` : `${p.caller ?? '(caller from the trace)'} → ${p.service}`}` : 'tcp';
          process.stderr.write(`labcoat proxy: ${p.name}: ${p.listen} → ${p.upstream} (${what})\n`);
        }
        if (!o.key) process.stderr.write('labcoat proxy: no --key/LABCOAT_KEY: fault plans are ignored (toxics still work)\n');
      }
      const port = server.adminUrl ? Number(new URL(server.adminUrl).port) : Number(proxies[0]?.listen.split(':').pop() ?? 0);
      console.log(`LABCOAT_READY proxy port=${port}`);
    });
}
