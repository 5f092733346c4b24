/** `berth completion bash|zsh|fish` and the hidden `berth __complete` the scripts call (../completion.ts). */
import { Argument, type Command } from 'commander';
import { listRecords } from '../../reconciler/records.js';
import { complete, completionScript } from '../completion.js';
import { act, examples } from '../common.js';
import { DEFAULTS } from '../globals.js';

export function register(program: Command): void {
  program
    .command('completion')
    .description('print a shell completion script (commands, flags, flag values, pod names)')
    .addArgument(new Argument('<shell>').choices(['bash', 'zsh', 'fish']))
    .addHelpText(
      'after',
      examples([
        ['bash, for this shell', 'source <(berth completion bash)'],
        ['bash, for every shell of this host', 'berth completion bash > /etc/bash_completion.d/berth'],
        ['zsh', 'berth completion zsh > "${fpath[1]}/_berth"'],
        ['fish', 'berth completion fish > ~/.config/fish/completions/berth.fish'],
      ]),
    )
    .action(
      act(async (shell: string) => {
        process.stdout.write(completionScript(shell));
        return 0;
      }),
    );

  program
    .command('__complete', { hidden: true })
    .argument('[words...]')
    .allowUnknownOption()
    .helpOption(false)
    .action(
      act(async (words: string[]) => {
        const typed = words.slice(0, -1);
        const i = typed.lastIndexOf('--state-dir');
        const stateDir = i >= 0 && typed[i + 1] ? typed[i + 1]! : DEFAULTS.stateDir;
        const pods = async () => {
          const recs = await listRecords({
            configDir: DEFAULTS.configDir,
            stateDir,
            runDir: DEFAULTS.runDir,
            logDir: DEFAULTS.logDir,
            specDirs: [],
          }).catch(() => []); // completion must not fail the shell: no records, no pod names offered
          return [...new Set(recs.map((r) => (r.namespace === 'default' ? r.name : r.key)))];
        };
        const out = await complete(program, typed, words.at(-1) ?? '', pods);
        if (out.length) process.stdout.write(`${out.join('\n')}\n`);
        return 0;
      }),
    );
}
