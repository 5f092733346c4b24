import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { complete, completionScript } from '../../../src/cli/completion.js';

function program() {
  const p = new Command('berth').option('--state-dir <dir>').addOption(new Option('--runtime <name>').choices(['crun', 'runc']));
  p.command('status').argument('[pod]').option('-o, --output <format>').option('-A, --all-namespaces');
  p.command('describe').argument('<pod>');
  const image = p.command('image');
  image.command('pull').argument('<reference>');
  image.command('ls');
  p.command('__complete', { hidden: true });
  return p;
}
const pods = async () => ['web', 'db', 'kube-system/etcd'];

describe('shell completion', () => {
  it('completes subcommands, never hidden ones', async () => {
    expect(await complete(program(), [], 'st', pods)).toEqual(['status']);
    expect(await complete(program(), [], '', pods)).toEqual(['status', 'describe', 'image']);
    expect(await complete(program(), ['image'], '', pods)).toEqual(['pull', 'ls']);
  });

  it('completes the flags of the command being typed and the global ones', async () => {
    expect(await complete(program(), ['status'], '--', pods)).toEqual([
      '--state-dir',
      '--runtime',
      '--output',
      '--all-namespaces',
      '--help',
    ]);
    expect(await complete(program(), ['image', 'pull'], '--r', pods)).toEqual(['--runtime']);
  });

  it('completes flag values from their choices', async () => {
    expect(await complete(program(), ['--runtime'], '', pods)).toEqual(['crun', 'runc']);
    expect(await complete(program(), ['status', '-o'], 'j', pods)).toEqual(['json', 'jsonpath=']);
    // the value of a flag is not taken for a subcommand
    expect(await complete(program(), ['--state-dir', 'status'], '', pods)).toEqual(['status', 'describe', 'image']);
  });

  it('completes pod names where a command takes a pod', async () => {
    expect(await complete(program(), ['describe'], '', pods)).toEqual(['web', 'db', 'kube-system/etcd']);
    expect(await complete(program(), ['status', '-A'], 'w', pods)).toEqual(['web']);
    expect(await complete(program(), ['image', 'pull'], '', pods)).toEqual([]);
  });

  it('prints a script per shell that asks berth __complete', () => {
    for (const sh of ['bash', 'zsh', 'fish']) expect(completionScript(sh)).toContain('berth __complete --');
    expect(() => completionScript('tcsh')).toThrow(/not one of bash, zsh, fish/);
  });
});
