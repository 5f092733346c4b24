/**
 * Help that teaches (issue 12 item 5): every command berth lists has examples in its --help,
 * the global options are listed once (in `berth --help`), and berth(1) carries the examples.
 */
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/program.js';
import { visibleCommands } from '../../../src/cli/completion.js';
import { renderMan } from '../../../src/cli/man.js';
import { EXIT_TABLE } from '../../../src/cli/exit-codes.js';

function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

function walk(cmd: Command, path: string[] = []): Array<{ path: string; cmd: Command }> {
  return visibleCommands(cmd)
    .filter((c) => c.name() !== 'help')
    .flatMap((c) => [{ path: [...path, c.name()].join(' '), cmd: c }, ...walk(c, [...path, c.name()])]);
}

const program = await buildProgram();

describe("berth --help and each command's", () => {
  const commands = walk(program);

  it('has the commands it should', () => {
    expect(commands.map((c) => c.path)).toEqual(
      expect.arrayContaining([
        'reconcile',
        'validate',
        'status',
        'logs',
        'exec',
        'image pull',
        'trust add',
        'net inspect',
        'gc',
        'version',
        'completion',
      ]),
    );
  });

  it.each(commands.map((c) => [c.path, c.cmd] as const))(
    'berth %s --help has examples, each a "# why" line and a berth command line',
    (path, cmd) => {
      const help = helpOf(cmd);
      const ex = help.slice(help.indexOf('\nExamples:\n'));
      expect(help).toContain('\nExamples:\n');
      const lines = ex
        .split('\n')
        .slice(2)
        .filter((l) => l.startsWith('  '));
      expect(lines.length).toBeGreaterThanOrEqual(2);
      for (let i = 0; i < lines.length; i += 2) {
        expect(lines[i]).toMatch(/^ {2}# \S/);
        expect(lines[i + 1]).toMatch(new RegExp(`(^|[ <(|])berth ${path.split(' ')[0]}\\b`));
      }
    },
  );

  it("lists the global options once: in berth --help, not in a subcommand's", () => {
    expect(helpOf(program)).toContain('--state-dir <dir>');
    for (const { cmd } of commands) {
      const help = helpOf(cmd);
      expect(help).not.toContain('--state-dir <dir>');
      expect(help).toContain('Global options (--state-dir');
    }
  });

  it("berth(1) carries every command's examples", () => {
    const page = renderMan(program, '0.1.0', '2026-12-02', { exitStatus: EXIT_TABLE, files: [] });
    expect(page).toContain('berth reconcile \\-\\-once \\-\\-dry\\-run');
    expect(page).toContain('berth logs web \\-c httpd \\-\\-previous \\-\\-tail 50');
    expect(page.match(/^Examples:$/gm)?.length).toBe(commands.length + 1);
  });
});
