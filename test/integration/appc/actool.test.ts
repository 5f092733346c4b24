/**
 * berth's ACI checks against the reference tool: each archive is judged by `actool validate`
 * (appc-spec 0.8.11, when installed) and by berth's layout + manifest validation; the verdicts
 * must agree.
 */
import { createReadStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateAci } from '../../../src/image/appc/archive.js';
import { makeAci, manifest, type Entry } from '../../unit/appc/helpers.js';

const haveActool = (await execa('actool', ['version'], { reject: false }).catch(() => ({ exitCode: 1 }))).exitCode === 0;
const app = { exec: ['/bin/sh'], user: '0', group: '0' };

const cases: Array<[string, Record<string, unknown> | string, Entry[], boolean]> = [
  ['a minimal image', manifest('example.com/ok'), [], true],
  [
    'both supplementary GID spellings',
    manifest('example.com/gids', { app: { ...app, supplementaryGids: [1], supplementaryGIDs: [2] } }),
    [],
    true,
  ],
  [
    'labels, dependencies and a whitelist',
    manifest('example.com/full', {
      labels: [
        { name: 'version', value: '1.0.0' },
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'amd64' },
      ],
      dependencies: [{ imageName: 'example.com/base' }],
      pathWhitelist: ['/bin/sh'],
    }),
    [{ name: 'rootfs/bin/sh', content: '' }],
    true,
  ],
  [
    'a duplicate entry',
    manifest('example.com/dup'),
    [
      { name: 'rootfs/a', content: '1' },
      { name: 'rootfs/a', content: '2' },
    ],
    false,
  ],
  ['an extra top-level file', manifest('example.com/extra'), [{ name: 'README', content: 'x' }], false],
  ['an upper-case name', manifest('Example.com/app'), [], false],
  ['a label called name', manifest('example.com/l', { labels: [{ name: 'name', value: 'x' }] }), [], false],
  [
    'an arch that does not go with the os',
    manifest('example.com/a', {
      labels: [
        { name: 'os', value: 'linux' },
        { name: 'arch', value: 'x86_64' },
      ],
    }),
    [],
    false,
  ],
  ['an app without group', manifest('example.com/g', { app: { exec: ['/bin/sh'], user: '0' } }), [], false],
  ['a relative working directory', manifest('example.com/w', { app: { ...app, workingDirectory: 'srv' } }), [], false],
];

describe.skipIf(!haveActool)('berth and actool validate agree', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp('/tmp/berth-taci-actool-');
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it.each(cases)('%s', async (what, m, entries, valid) => {
    const file = join(dir, `${what.replace(/\W+/g, '-')}.aci`);
    await writeFile(file, await makeAci(m, entries));
    const ac = await execa('actool', ['validate', file], { reject: false });
    const berth = await validateAci(createReadStream(file), file).then(
      () => true,
      () => false,
    );
    expect(ac.exitCode === 0, `actool: ${ac.stderr}`).toBe(valid);
    expect(berth).toBe(valid);
  });
});
