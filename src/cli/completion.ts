/**
 * Shell completion from the command definitions themselves (issue 12 item 5): the shell
 * scripts `berth completion bash|zsh|fish` prints ask `berth __complete -- WORDS… CURRENT`
 * for candidates, so completion never drifts from the commands: subcommands, the flags of
 * the command being typed (its own and the global ones), the choices of a flag's value, and
 * pod names (from the pod records, read-only) where a command takes a pod.
 */
import type { Command, Option } from 'commander';
import { BerthError } from '../common/errors.js';

/** The command the words name, the options in scope there, and the option whose value is being typed. */
function walk(program: Command, words: string[]): { cmd: Command; options: readonly Option[]; valueFor?: Option } {
  let cmd = program;
  let options: Option[] = [...program.options];
  let valueFor: Option | undefined;
  for (const w of words) {
    if (valueFor) {
      valueFor = undefined;
      continue;
    }
    if (w.startsWith('-')) {
      if (w.includes('=')) continue;
      const o = options.find((x) => x.long === w || x.short === w);
      if (o && (o.required || o.optional)) valueFor = o;
      continue;
    }
    const sub = cmd.commands.find((c) => c.name() === w || c.aliases().includes(w));
    if (sub) {
      cmd = sub;
      options = [...options, ...sub.options];
    }
  }
  return { cmd, options, ...(valueFor ? { valueFor } : {}) };
}

/** The subcommands help lists (commander keeps `hidden` private). */
export const visibleCommands = (cmd: Command): Command[] => cmd.commands.filter((c) => !(c as unknown as { _hidden?: boolean })._hidden);

/** Does this command take a pod as its first argument? */
const takesPod = (cmd: Command) => (cmd.registeredArguments[0]?.name() ?? '') === 'pod';

/**
 * Candidates for `current` after `words` (the words typed before it, without `berth`).
 * `pods` lists pod names, called only where a pod is wanted.
 */
export async function complete(program: Command, words: string[], current: string, pods: () => Promise<string[]>): Promise<string[]> {
  const { cmd, options, valueFor } = walk(program, words);
  const starts = (xs: string[]) => xs.filter((x) => x.startsWith(current));
  if (valueFor) return starts(valueFor.argChoices ?? (valueFor.long === '--output' ? ['wide', 'json', 'yaml', 'name', 'jsonpath='] : []));
  if (current.startsWith('-'))
    return starts(
      options
        .filter((o) => !o.hidden && o.long)
        .map((o) => o.long!)
        .concat('--help'),
    );
  const subs = visibleCommands(cmd).map((c) => c.name());
  if (subs.length) return starts(subs);
  if (takesPod(cmd)) return starts(await pods());
  return [];
}

export function completionScript(shell: string): string {
  switch (shell) {
    case 'bash':
      return `# berth completion for bash: source <(berth completion bash)
_berth() {
  local cur=\${COMP_WORDS[COMP_CWORD]}
  local IFS=$'\\n'
  COMPREPLY=( $(berth __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD-1}" "$cur" 2>/dev/null) )
}
complete -o default -F _berth berth
`;
    case 'zsh':
      return `#compdef berth
# berth completion for zsh: berth completion zsh > "\${fpath[1]}/_berth"
_berth() {
  local -a candidates
  candidates=( \${(f)"$(berth __complete -- \${words[2,CURRENT-1]} "\${words[CURRENT]}" 2>/dev/null)"} )
  compadd -a candidates
}
compdef _berth berth
`;
    case 'fish':
      return `# berth completion for fish: berth completion fish > ~/.config/fish/completions/berth.fish
complete -c berth -f -a '(berth __complete -- (commandline -opc)[2..-1] (commandline -ct) 2>/dev/null)'
`;
    default:
      throw new BerthError('InvalidArgument', `completion: "${shell}" is not one of bash, zsh, fish`);
  }
}
