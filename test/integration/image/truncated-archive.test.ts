/**
 * Issue 14.13 for local archives: a layer member whose tar header declares 2 GiB but whose
 * data the file does not hold is refused naming the member, the declared size and what the
 * file holds, saying it is truncated (tar-stream said "Unexpected end of data" or "Stream was
 * destroyed"); the same image pulls from the whole archive afterwards.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testImageService } from '../../helpers/image-service.js';

const isRoot = process.getuid?.() === 0;
const script = fileURLToPath(new URL('../../../scripts/build-busybox-image.sh', import.meta.url));
const TWO_GIB = 2 * 1024 ** 3;
const KEEP = 4096;

/**
 * A copy of a tar whose largest member's header is rewritten to declare `declared` bytes
 * (checksum fixed), cut `KEEP` bytes into that member's data. Returns the member's name.
 */
async function lyingCopy(src: string, dst: string, declared: number): Promise<string> {
  const buf = await readFile(src);
  let best = { pos: -1, size: -1, name: '' };
  for (let pos = 0; pos + 512 <= buf.length;) {
    const h = buf.subarray(pos, pos + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/, '').trim() || '0', 8);
    const name = h.subarray(0, 100).toString('latin1').replace(/\0.*$/, '');
    if (size > best.size) best = { pos, size, name };
    pos += 512 + Math.ceil(size / 512) * 512;
  }
  const h = Buffer.from(buf.subarray(best.pos, best.pos + 512));
  h.write(`${declared.toString(8).padStart(11, '0')}\0`, 124, 12, 'latin1');
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
  await writeFile(dst, Buffer.concat([buf.subarray(0, best.pos), h, buf.subarray(best.pos + 512, best.pos + 512 + KEEP)]));
  return best.name;
}

describe.skipIf(!isRoot)('archives whose layer data ends early', () => {
  let base = '';
  const archives: Record<'docker-archive' | 'oci-archive', string> = { 'docker-archive': '', 'oci-archive': '' };

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-ttarc-'));
    const layout = join(base, 'busybox');
    await execa(script, [layout, 'latest']);
    for (const t of ['docker-archive', 'oci-archive'] as const) {
      archives[t] = join(base, `${t}.tar`);
      await execa('skopeo', ['copy', `oci:${layout}:latest`, `${t}:${archives[t]}:localhost/busybox:latest`]);
    }
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  it.each(['docker-archive', 'oci-archive'] as const)(
    '%s: refused naming the member and the sizes; the whole archive pulls afterwards',
    async (t) => {
      const cut = join(base, `${t}-cut.tar`);
      const member = await lyingCopy(archives[t], cut, TWO_GIB);
      const svc = testImageService({ stateDir: join(base, `state-${t}`) });
      const err = await svc.pull(`${t}:${cut}`).then(
        () => undefined,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(err, 'the pull must fail').toBeDefined();
      expect(err!.code).toBe('InvalidArgument');
      expect(err!.message).toContain(`member ${member} declares ${TWO_GIB} bytes, but the archive end`);
      expect(err!.message).toMatch(new RegExp(`after ${t === 'oci-archive' ? KEEP : '\\d+'} of them: the file is truncated`));
      expect(err!.message).not.toMatch(/Unexpected end of data|Stream was destroyed/);

      const img = await svc.pull(`${t}:${archives[t]}`);
      expect(img.layers).toHaveLength(1);
    },
  );
});
