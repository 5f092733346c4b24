/**
 * berth(1), rendered from the command definitions at build time (`berth __man`, run by
 * scripts/bundle.mjs): the same text as each command's --help, examples included, so the
 * manual cannot drift from the commands.
 */
import type { Command } from 'commander';
import { visibleCommands } from './completion.js';

/** roff-escape a line of text (backslashes, leading dots and quotes). */
const esc = (s: string) =>
  s
    .replace(/\\/g, '\\e')
    .replace(/^([.'])/gm, '\\&$1')
    .replace(/-/g, '\\-');

function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out.replace(/\n*Global options \(.*\n?$/, '\n');
}

function walk(cmd: Command, path: string[] = []): Array<{ path: string[]; cmd: Command }> {
  return visibleCommands(cmd).flatMap((c) => [{ path: [...path, c.name()], cmd: c }, ...walk(c, [...path, c.name()])]);
}

export interface ManSections {
  exitStatus: string[];
  files: string[];
}

export function renderMan(program: Command, version: string, date: string, sections: ManSections): string {
  const lines = [
    `.TH BERTH 1 "${date}" "berth ${version}" "User Commands"`,
    '.SH NAME',
    `berth \\- ${esc(program.description())}`,
    '.SH SYNOPSIS',
    '.B berth',
    '[\\fIglobal options\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.SH GLOBAL OPTIONS',
    '.nf',
    esc(helpOf(program).trimEnd()),
    '.fi',
    '.SH COMMANDS',
  ];
  for (const { path, cmd } of walk(program)) {
    lines.push(`.SS berth ${path.join(' ')}`, '.nf', esc(helpOf(cmd).trimEnd()), '.fi');
  }
  lines.push(
    '.SH EXIT STATUS',
    ...sections.exitStatus.flatMap((l) => ['.TP', esc(l.split(' ')[0]!), esc(l.split(' ').slice(1).join(' '))]),
  );
  lines.push('.SH FILES', ...sections.files.flatMap((l) => ['.TP', esc(l.split(' ')[0]!), esc(l.split(' ').slice(1).join(' '))]));
  lines.push('.SH SEE ALSO', 'crun(1), runc(8), conmon(8), podman\\-kube\\-play(1)');
  return `${lines.join('\n')}\n`;
}
