/**
 * Issue 10: a hostile OCI layer and a hostile ACI whose bad entry sits deep in the stream
 * (after more than 1 MiB of good entries, far past the tar parser's 16 KiB buffer) are
 * refused promptly — the refusal destroys the source and the parser, nothing waits for a
 * `drain` that never comes — and the same reference is pulled and rendered again afterwards
 * in the same process. Archives are made with GNU tar and gzip. The test's timeouts are
 * generous; there is no timing assertion.
 */
import { link, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createImageService } from '../../../src/image/index.js';
import type { BerthImageService } from '../../../src/image/index.js';
import { goodFiles, packAci, tarDir, writeLayout } from './layout-helpers.js';

const isRoot = process.getuid?.() === 0;
const GOOD_FILES = 400;
const GOOD_SIZE = 4096; // 400 × 4 KiB ≈ 1.6 MiB of good entries before the bad one
const LONG = 120_000;

async function refusal(p: Promise<unknown>): Promise<Error & { code?: string }> {
  return p.then(
    () => {
      throw new Error('expected a refusal');
    },
    (e: unknown) => e as Error & { code?: string },
  );
}

describe.skipIf(!isRoot)('a bad entry deep in the stream is refused promptly, and the reference works again', () => {
  let base = '';
  let svc: BerthImageService;

  beforeAll(async () => {
    base = await mkdtemp(join(tmpdir(), 'berth-tdeep-'));
    const configDir = join(base, 'config');
    await mkdir(configDir, { recursive: true });
    // unsigned test ACIs allowed, as test/integration/appc/aci-helpers.ts allowUnsigned does
    const appc = { 'example.com/tdeep': [{ type: 'insecureAcceptAnything' }] };
    await writeFile(
      join(configDir, 'policy.json'),
      JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }], transports: { appc } }),
    );
    svc = createImageService({ stateDir: join(base, 'state'), configDir });
  });
  afterAll(async () => {
    if (base) await rm(base, { recursive: true, force: true });
  });

  /** A tree of good files, then `bad` adds the hostile part (named to sort last). */
  async function tree(name: string, bad: (dir: string) => Promise<void>): Promise<string> {
    const dir = join(base, name);
    await goodFiles(dir, GOOD_FILES, GOOD_SIZE);
    await bad(dir);
    return dir;
  }

  const ociCases: { name: string; bad: (dir: string) => Promise<void>; tarArgs: string[]; message: RegExp }[] = [
    {
      name: 'a whiteout whose name escapes its directory (".wh...")',
      bad: async (dir) => {
        await mkdir(join(dir, 'zz'), { recursive: true });
        await writeFile(join(dir, 'zz', '.wh...'), '');
      },
      tarArgs: [],
      message: /whiteout .* escapes its directory/,
    },
    {
      name: 'a hard link to a target outside the tree ("../../etc/…")',
      bad: async (dir) => {
        await writeFile(join(dir, 'zz-a'), 'a');
        await link(join(dir, 'zz-a'), join(dir, 'zz-b'));
      },
      tarArgs: ['--transform', 's,^\\./zz-a$,../../etc/berth-tdeep-missing,RSh'],
      message: /hardlink .* to missing/,
    },
  ];

  it.each(ociCases)(
    'OCI layer with $name: render refused, refused again, then the same reference renders a good image',
    async ({ name, bad, tarArgs, message }) => {
      const slug = name.replace(/\W+/g, '-').slice(0, 24);
      const dir = await tree(`oci-${slug}`, bad);
      const layerTar = await tarDir(dir, join(base, `oci-${slug}.tar`), tarArgs);
      const layout = join(base, `layout-${slug}`);
      await writeLayout(layout, [layerTar]);
      const ref = `oci:${layout}:latest`;
      for (let attempt = 0; attempt < 2; attempt++) {
        const img = await svc.pull(ref);
        const err = await refusal(svc.render(img));
        expect(err.code).toBe('InvalidArgument');
        expect(err.message).toMatch(message);
      }
      expect((await readdir(join(base, 'state', 'rendered'))).filter((n) => n.startsWith('.tmp-'))).toEqual([]);

      const goodDir = join(base, `oci-${slug}-good`);
      await goodFiles(goodDir, GOOD_FILES, GOOD_SIZE);
      await writeLayout(layout, [await tarDir(goodDir, join(base, `oci-${slug}-good.tar`))]);
      const r = await svc.render(await svc.pull(ref));
      expect(await readFile(join(r.rootfs, 'good', 'd0', 'f0'), 'utf8')).toHaveLength(GOOD_SIZE);
    },
    LONG,
  );

  it(
    'ACI with a "rootfs/../" member deep in it: pull refused, refused again, then the same path pulls a good ACI',
    async () => {
      const work = join(base, 'aci-dotdot');
      await tree(join('aci-dotdot', 'rootfs'), async (rootfs) => writeFile(join(rootfs, 'zz-escape'), 'x'));
      const aci = join(base, 'dotdot.aci');
      await packAci(work, 'example.com/tdeep/dotdot', aci, ['--transform', 's,^rootfs/zz-escape$,rootfs/../../etc/berth-tdeep,']);
      for (let attempt = 0; attempt < 2; attempt++) {
        const err = await refusal(svc.pull(`aci:${aci}`));
        expect(err.code).toBe('InvalidArgument');
        expect(err.message).toMatch(/unrecognized file path in layout/);
      }
      await rm(join(work, 'rootfs', 'zz-escape'));
      await packAci(work, 'example.com/tdeep/dotdot', aci);
      const r = await svc.render(await svc.pull(`aci:${aci}`));
      expect(await readFile(join(r.rootfs, 'good', 'd0', 'f0'), 'utf8')).toHaveLength(GOOD_SIZE);
    },
    LONG,
  );

  it(
    'ACI with a hard link out of rootfs deep in it: render refused, refused again, then the same path renders a good ACI',
    async () => {
      const work = join(base, 'aci-link');
      await tree(join('aci-link', 'rootfs'), async () => undefined);
      await packAci(work, 'example.com/tdeep/link', join(base, 'scratch.aci')); // writes work/manifest
      await link(join(work, 'manifest'), join(work, 'rootfs', 'zz-manifest'));
      const aci = join(base, 'link.aci');
      await packAci(work, 'example.com/tdeep/link', aci);
      for (let attempt = 0; attempt < 2; attempt++) {
        const err = await refusal(svc.render(await svc.pull(`aci:${aci}`)));
        expect(err.code).toBe('InvalidArgument');
        expect(err.message).toMatch(/hard link .* points outside rootfs/);
      }
      await rm(join(work, 'rootfs', 'zz-manifest'));
      await packAci(work, 'example.com/tdeep/link', aci);
      const r = await svc.render(await svc.pull(`aci:${aci}`));
      expect(await readFile(join(r.rootfs, 'good', 'd0', 'f0'), 'utf8')).toHaveLength(GOOD_SIZE);
    },
    LONG,
  );
});
