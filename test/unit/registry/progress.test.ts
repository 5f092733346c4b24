/** `berth image pull` progress: redrawn per-blob lines on a terminal, plain lines otherwise. */
import { describe, expect, it } from 'vitest';
import { humanBytes, progressPrinter } from '../../../src/cli/commands/image.js';

const D = `sha256:${'ab'.repeat(32)}`;
const E = `sha256:${'cd'.repeat(32)}`;

function sink() {
  const out: string[] = [];
  return { out, stream: { write: (s: string) => out.push(s) } as unknown as NodeJS.WriteStream };
}

describe('pull progress', () => {
  it('plain lines: one when a blob starts and one when it ends, none per chunk', () => {
    const { out, stream } = sink();
    const p = progressPrinter(stream, false);
    p.onProgress({ kind: 'layer', digest: D, size: 2048, bytes: 0, state: 'downloading' });
    p.onProgress({ kind: 'layer', digest: D, size: 2048, bytes: 1024, state: 'downloading' });
    p.onProgress({ kind: 'layer', digest: D, size: 2048, bytes: 2048, state: 'done' });
    p.onProgress({ kind: 'config', digest: E, size: 10, bytes: 10, state: 'cached' });
    p.finish();
    expect(out).toEqual([
      `layer    ${'ab'.repeat(6)}  0 B / 2.0 kB 0%\n`,
      `layer    ${'ab'.repeat(6)}  done\n`,
      `config   ${'cd'.repeat(6)}  already stored\n`,
    ]);
  });

  it('terminal: the block of blob lines is redrawn in place', () => {
    const { out, stream } = sink();
    const p = progressPrinter(stream, true);
    p.onProgress({ kind: 'layer', digest: D, size: 2048, bytes: 1024, state: 'downloading' });
    p.onProgress({ kind: 'layer', digest: E, size: 4096, bytes: 0, state: 'downloading' });
    const text = out.join('');
    expect(text).toContain('\x1b[1A'); // moved up over the first block before redrawing
    expect(text).toContain('1.0 kB / 2.0 kB 50%');
    expect(humanBytes(5 * 1024 * 1024)).toBe('5.0 MB');
  });
});
