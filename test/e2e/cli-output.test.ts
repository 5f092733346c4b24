/**
 * Issue 14.8: output is complete whatever its size when stdout is a pipe whose reader is
 * slow (`berth status -o json | jq` got 131072 of 917959 bytes): berth must not exit before
 * stdout has drained. The built CLI runs with stdout piped to a reader that waits before
 * reading; the JSON it gets must parse and hold everything.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, createSandbox, type Sandbox } from '../helpers/berth-cli.js';

const DOCS = 2000;

/** `berth ARGS | (sleep 2; cat > out)`: the exit code of berth and what the slow reader got. */
async function slowlyRead(sb: Sandbox, args: string[]): Promise<{ code: number; text: string }> {
  const out = join(sb.root, `out-${args[0]}.json`);
  const quoted = [CLI, ...args, ...sb.args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`).join(' ');
  const r = await execa('bash', ['-c', `node ${quoted} 2>/dev/null | (sleep 2; cat > '${out}'); echo "\${PIPESTATUS[0]}"`], {
    timeout: 120_000,
  });
  return { code: Number(r.stdout.trim()), text: await readFile(out, 'utf8') };
}

describe('large output through a slow pipe', () => {
  let sb: Sandbox;
  let file = '';

  beforeAll(async () => {
    sb = await createSandbox('berth-e2eout');
    // many invalid pod documents: one issue each, well over a pipe's 64 KiB
    const docs = Array.from(
      { length: DOCS },
      (_, i) =>
        `apiVersion: v1\nkind: Pod\nmetadata: {name: bad-${i}}\nspec:\n  containers:\n    - {name: app, image: oci:/nonexistent, imagePullPolicy: Sometimes}\n`,
    );
    file = join(sb.specDir, 'many.yaml');
    await writeFile(file, docs.join('---\n'));
  });

  afterAll(async () => {
    await sb?.dispose();
  });

  it('validate -o json: every issue arrives and the JSON parses', async () => {
    const { code, text } = await slowlyRead(sb, ['validate', '-o', 'json', file]);
    expect(code).toBe(2);
    expect(text.length).toBeGreaterThan(256 * 1024);
    const doc = JSON.parse(text) as { issues: Array<{ key?: string; path: string }> };
    expect(doc.issues.filter((i) => i.path.endsWith('imagePullPolicy'))).toHaveLength(DOCS);
  });

  it('status -o json after reconcile --once: every pod row arrives and the JSON parses', async () => {
    const once = await sb.run(['reconcile', '--once', '--timeout', '60s']);
    expect(once.exitCode, once.stderr.slice(-2000)).toBe(2);
    const { code, text } = await slowlyRead(sb, ['status', '-o', 'json']);
    expect(code).toBe(0);
    const doc = JSON.parse(text) as { pods: Array<{ name: string; status: string }> };
    expect(doc.pods.filter((p) => p.status === 'InvalidSpec')).toHaveLength(DOCS);
  });
});
