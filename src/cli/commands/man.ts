/** `berth __man`: berth(1) in roff on stdout, from the command definitions (../man.ts); the build runs it. */
import type { Command } from 'commander';
import { act } from '../common.js';
import { EXIT_TABLE } from '../exit-codes.js';
import { renderMan } from '../man.js';
import { DEFAULTS } from '../globals.js';
import { VERSION } from './version.js';

const FILES = [
  `${DEFAULTS.specDir[0]} pod and network specs (--spec-dir)`,
  `${DEFAULTS.configDir} configuration: registries.conf, policy.json, registries.d/, trust/, seccomp/, net.d/ (--config-dir)`,
  `${DEFAULTS.stateDir} state: pod records, events, image store, rendered trees, CNI cache, the agent lock (--state-dir)`,
  `${DEFAULTS.runDir} runtime state: conmon and OCI runtime files (--run-dir)`,
  `${DEFAULTS.logDir} container logs in CRI format (--log-dir)`,
];

export function register(program: Command): void {
  program
    .command('__man', { hidden: true })
    .option('--date <date>', 'date for the page header', new Date().toISOString().slice(0, 10))
    .action(
      act(async (o: { date: string }) => {
        process.stdout.write(renderMan(program, VERSION, o.date, { exitStatus: EXIT_TABLE, files: FILES }));
        return 0;
      }),
    );
}
