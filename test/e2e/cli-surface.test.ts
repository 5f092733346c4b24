/** The operator's surface that needs no pods: version, completion, the manual, errors and exit codes. */
import { execa } from 'execa';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO } from '../helpers/berth-cli.js';

const berth = (...args: string[]) => execa(CLI, args, { reject: false, env: { NO_COLOR: '1' } });

describe('berth version, completion, man, errors', () => {
  it('version names berth, node, the runtimes, conmon and the CNI plugin dirs; -o json for scripts', async () => {
    const text = await berth('version');
    expect(text.exitCode, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/^berth \d+\.\d+\.\d+ \(commit [0-9a-f]{12}|unknown\)/);
    expect(text.stdout).toMatch(/\ncrun: crun version \d/);
    const json = JSON.parse((await berth('version', '-o', 'json')).stdout) as { berth: { version: string }; node: string; conmon: { version: string | null } };
    expect(json.node).toBe(process.version);
    expect(json.conmon.version).toMatch(/^conmon version/);
    expect((await berth('version', '-o', 'yaml')).exitCode).toBe(2);
  });

  it('completion scripts ask berth itself: commands, flags, flag values', async () => {
    const bash = await berth('completion', 'bash');
    expect(bash.stdout).toContain('complete -o default -F _berth berth');
    expect((await execa('bash', ['-n'], { input: bash.stdout })).exitCode).toBe(0);
    expect((await berth('__complete', '--', 'st')).stdout).toBe('status');
    expect((await berth('__complete', '--', 'status', '--sel')).stdout).toBe('--selector');
    expect((await berth('__complete', '--', '--runtime', '')).stdout).toBe('crun\nrunc');
    expect((await berth('completion', 'tcsh')).exitCode).toBe(3);
  });

  it('the build writes berth(1) from the same definitions', async () => {
    const page = await readFile(join(REPO, 'dist/man/berth.1'), 'utf8');
    expect(page).toContain('.SS berth reconcile');
    expect(page).toContain('.SH EXIT STATUS');
    const rendered = await execa('man', ['-l', join(REPO, 'dist/man/berth.1')], { reject: false, env: { MANPAGER: 'cat', MANWIDTH: '80' } });
    expect(rendered.stdout).toContain('EXIT STATUS');
  });

  it('errors are one line with a reason word and the table\'s exit code; --debug adds the stack', async () => {
    const missing = await berth('image', 'inspect', 'oci:/nonexistent/layout:x', '--state-dir', '/tmp/berth-surface-nonexistent');
    expect(missing.stderr).toMatch(/^berth: (NotFound|InvalidArgument): /);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    const usage = await berth('status', '--no-such-flag');
    expect(usage.exitCode).toBe(3);
  });
});
