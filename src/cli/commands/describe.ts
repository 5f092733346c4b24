/** `berth describe POD`: spec summary, per-app state, exit codes, restarts. */
import type { Command } from 'commander';
import { collectStatus } from '../../reconciler/index.js';
import { createHost, createLogger } from '../wire.js';
import { act, findPod, globalOptions, opts } from '../common.js';

export function register(program: Command): void {
  globalOptions(
      program.command('describe').description('spec summary, per-app state, exit codes, restarts').argument('<pod>'))
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .action(act(async (pod: string, cmdOpts: { namespace: string }, cmd: Command) => {
      const o = opts(cmd);
      const host = await createHost(o, createLogger('warn', true), { readOnly: true });
      const rec = await findPod(o, pod, cmdOpts.namespace);
      const row = (await collectStatus(host)).find((r) => r.uid === rec.uid)!;
      const out: string[] = [
        `Name:         ${rec.name}`,
        `Namespace:    ${rec.namespace}`,
        `UID:          ${rec.uid}`,
        `Source:       ${rec.source.file}:${rec.source.line}`,
        `Status:       ${row.status}${row.message ? ` (${row.message})` : ''}`,
        `Created:      ${new Date(rec.createdAt).toISOString()}`,
        `Restart:      ${rec.pod.spec.restartPolicy}`,
        `Netns:        ${row.netns ?? (rec.pod.spec.hostNetwork ? 'host' : '-')}`,
        `IPs:          ${row.ips.join(', ') || '-'}`,
        'Networks:',
        ...row.networks.map((n) => `  ${n.name} on ${n.interface}: ${n.ips.join(', ')}`),
        'Apps:',
      ];
      for (const a of row.apps) {
        const r = rec.apps[a.name];
        out.push(`  ${a.name}:`, `    Image:      ${a.image}${a.imageDigest ? ` (${a.imageDigest})` : ''}`, `    State:      ${a.state}${a.reason ? ` (${a.reason})` : ''}${a.pid ? `, pid ${a.pid}` : ''}`);
        if (a.startedAt) out.push(`    Started:    ${a.startedAt}`);
        if (r?.lastExit) out.push(`    Last exit:  code ${r.lastExit.exitCode} at ${new Date(r.lastExit.finishedAt).toISOString()}`);
        if (r?.lastError) out.push(`    Last error: ${r.lastError.message}`);
        out.push(`    Restarts:   ${a.restartCount}`);
      }
      if (rec.lastError) out.push(`Last error:   ${rec.lastError.step}: ${rec.lastError.message}`);
      process.stdout.write(`${out.join('\n')}\n`);
      return 0;
    }));
}
