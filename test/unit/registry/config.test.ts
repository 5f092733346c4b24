/**
 * The ecosystem's configuration formats as berth reads them: registries.conf (DST-13),
 * auth.json / docker config.json (DST-15/16), policy.json and registries.d.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { authFiles, findCredentials, lookupAuth, normalizeAuthKey } from '../../../src/image/config/auth-file.js';
import { dockerScopes, parsePolicy, pathScopes, requirementsFor } from '../../../src/image/config/policy.js';
import { endpointsFor, findRegistry, loadRegistriesConf, parseRegistriesConf } from '../../../src/image/config/registries-conf.js';
import { lookasideFor, parseRegistriesD, signatureUrl } from '../../../src/image/config/registries-d.js';
import { isUnqualified } from '../../../src/image/registry/source.js';
import { tempDirs } from './tmp.js';

const tmp = tempDirs();

const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('registries.conf (DST-13)', () => {
  const conf = parseRegistriesConf(`
unqualified-search-registries = ["registry.example.com", "docker.io"]

[[registry]]
prefix = "example.com/foo"
location = "internal.example.com/bar"
insecure = false

[[registry.mirror]]
location = "mirror-1.local/mirrored"
insecure = true

[[registry.mirror]]
location = "mirror-2.local"
pull-from-mirror = "digest-only"

[[registry]]
location = "127.0.0.1:5000"
insecure = true

[[registry]]
prefix = "*.blocked.io"
blocked = true

[[registry]]
location = "docker.io"
mirror-by-digest-only = true
[[registry.mirror]]
location = "hub-mirror.local"
`);

  it('parses registries, mirrors and the search list', () => {
    expect(conf.unqualifiedSearchRegistries).toEqual(['registry.example.com', 'docker.io']);
    expect(conf.registries).toHaveLength(4);
    expect(conf.registries[0]).toMatchObject({
      prefix: 'example.com/foo',
      location: 'internal.example.com/bar',
      mirrors: [
        { location: 'mirror-1.local/mirrored', insecure: true, pullFromMirror: 'all' },
        { location: 'mirror-2.local', pullFromMirror: 'digest-only' },
      ],
    });
    expect(conf.registries[1]).toMatchObject({ prefix: '127.0.0.1:5000', location: '127.0.0.1:5000', insecure: true });
  });

  it('longest prefix wins; prefixes match whole components; wildcards match subdomains', () => {
    expect(findRegistry(conf, 'example.com/foo/app')?.prefix).toBe('example.com/foo');
    expect(findRegistry(conf, 'example.com/foobar/app')).toBeUndefined();
    expect(findRegistry(conf, 'a.b.blocked.io/x')?.prefix).toBe('*.blocked.io');
    expect(findRegistry(conf, 'blocked.io/x')).toBeUndefined();
  });

  it('rewrites the repository for mirrors and location, mirrors first, primary last', () => {
    expect(endpointsFor(conf, 'example.com', 'foo/app', false)).toEqual([
      { host: 'mirror-1.local', repository: 'mirrored/app', insecure: true, mirror: true },
      { host: 'internal.example.com', repository: 'bar/app', insecure: false, mirror: false },
    ]);
    expect(endpointsFor(conf, 'example.com', 'foo/app', true).map((e) => e.host)).toEqual([
      'mirror-1.local',
      'mirror-2.local',
      'internal.example.com',
    ]);
    // mirror-by-digest-only: tags go to the primary only
    expect(endpointsFor(conf, 'docker.io', 'library/busybox', false).map((e) => e.host)).toEqual(['docker.io']);
    expect(endpointsFor(conf, 'docker.io', 'library/busybox', true).map((e) => e.host)).toEqual(['hub-mirror.local', 'docker.io']);
    expect(endpointsFor(conf, 'other.io', 'x', false)).toEqual([{ host: 'other.io', repository: 'x', insecure: false, mirror: false }]);
  });

  it('blocked prefixes are PermissionDenied', () => {
    expect(() => endpointsFor(conf, 'x.blocked.io', 'app', false)).toThrow(
      expect.objectContaining({ code: 'PermissionDenied', message: expect.stringContaining('blocked') }),
    );
  });

  it('reports the settings it does not apply (short-name-mode, aliases…) instead of dropping them silently', () => {
    const conf = parseRegistriesConf(
      'short-name-mode = "enforcing"\nunqualified-search-registries = ["quay.io"]\n[aliases]\n"busybox" = "docker.io/library/busybox"\n',
      '/c/registries.conf',
    );
    expect(conf.notApplied).toEqual(['/c/registries.conf: short-name-mode', '/c/registries.conf: aliases']);
    expect(conf.unqualifiedSearchRegistries).toEqual(['quay.io']);
    expect(parseRegistriesConf('unqualified-search-registries = ["quay.io"]\n').notApplied).toBeUndefined();
  });

  it('legacy v1 tables', () => {
    const v1 = parseRegistriesConf(
      `[registries.search]\nregistries = ["quay.io"]\n[registries.insecure]\nregistries = ["10.0.0.1:5000"]\n[registries.block]\nregistries = ["evil.io"]\n`,
    );
    expect(v1.unqualifiedSearchRegistries).toEqual(['quay.io']);
    expect(endpointsFor(v1, '10.0.0.1:5000', 'a', false)[0]?.insecure).toBe(true);
    expect(() => endpointsFor(v1, 'evil.io', 'a', false)).toThrow(expect.objectContaining({ code: 'PermissionDenied' }));
  });

  it.each([
    ['not toml [', 'registries.conf'],
    ['[[registry]]\nlocation = 5', 'must be a string'],
    ['[[registry]]\nlocation = "https://x.io"', 'scheme'],
    ['[[registry]]\nlocation = "x.io"\n[[registry.mirror]]\nlocation = "m"\npull-from-mirror = "sometimes"', 'pull-from-mirror'],
  ])('refuses %j', (text, why) => {
    expect(() => parseRegistriesConf(text)).toThrow(
      expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining(why) }),
    );
  });

  it('drop-ins in registries.conf.d override entries of the same prefix', async () => {
    const dir = await tmp();
    await writeFile(join(dir, 'registries.conf'), '[[registry]]\nlocation = "a.io"\n\n[[registry]]\nlocation = "b.io"\n');
    await mkdir(join(dir, 'registries.conf.d'));
    await writeFile(join(dir, 'registries.conf.d', '10-a.conf'), '[[registry]]\nlocation = "a.io"\ninsecure = true\n');
    const c = await loadRegistriesConf(dir);
    expect(c.registries.map((r) => [r.prefix, r.insecure])).toEqual([
      ['b.io', false],
      ['a.io', true],
    ]);
    expect(await loadRegistriesConf(join(dir, 'absent'))).toEqual({ unqualifiedSearchRegistries: [], registries: [] });
  });

  it('unqualified names (DST-02) are the ones the search list applies to', () => {
    expect(isUnqualified('busybox')).toBe(true);
    expect(isUnqualified('library/busybox:1')).toBe(true);
    expect(isUnqualified('docker.io/library/busybox')).toBe(false);
    expect(isUnqualified('localhost/x')).toBe(false);
    expect(isUnqualified('host:5000/x')).toBe(false);
  });
});

describe('credentials (DST-15/16)', () => {
  it('normalises keys: scheme and Docker v1 paths dropped, Docker Hub aliases folded', () => {
    expect(normalizeAuthKey('https://index.docker.io/v1/')).toBe('docker.io');
    expect(normalizeAuthKey('registry-1.docker.io')).toBe('docker.io');
    expect(normalizeAuthKey('http://127.0.0.1:5000')).toBe('127.0.0.1:5000');
    expect(normalizeAuthKey('quay.io/ns/repo')).toBe('quay.io/ns/repo');
  });

  it('most specific key first; user:pass split at the first colon, trailing NULs trimmed', () => {
    const doc = {
      auths: {
        'quay.io': { auth: b64('host:pw') },
        'quay.io/ns': { auth: b64('ns:pw:with:colons') },
        'quay.io/ns/special': { auth: b64('special:pw\0\0') },
        'https://index.docker.io/v1/': { auth: b64('hub:pw') },
        'tok.io': { identitytoken: 'refresh-me' },
        'helper.io': {},
      },
    };
    expect(lookupAuth(doc, 'quay.io', 'ns/special', 'f')).toEqual({ username: 'special', password: 'pw' });
    expect(lookupAuth(doc, 'quay.io', 'ns/other', 'f')).toEqual({ username: 'ns', password: 'pw:with:colons' });
    expect(lookupAuth(doc, 'quay.io', 'else/x', 'f')).toEqual({ username: 'host', password: 'pw' });
    expect(lookupAuth(doc, 'docker.io', 'library/busybox', 'f')).toEqual({ username: 'hub', password: 'pw' });
    expect(lookupAuth(doc, 'tok.io', 'x', 'f')).toEqual({ identityToken: 'refresh-me' });
    expect(lookupAuth(doc, 'helper.io', 'x', 'f')).toBeUndefined();
    expect(lookupAuth(doc, 'none.io', 'x', 'f')).toBeUndefined();
    expect(() => lookupAuth({ auths: { 'x.io': { auth: b64('nocolon') } } }, 'x.io', 'r', 'f')).toThrow(
      expect.objectContaining({ code: 'InvalidArgument' }),
    );
  });

  it('searches <config-dir>/auth.json, REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, then the docker config', async () => {
    const dir = await tmp();
    const env = { REGISTRY_AUTH_FILE: join(dir, 'env.json'), HOME: join(dir, 'home'), XDG_RUNTIME_DIR: join(dir, 'run') };
    expect(authFiles({ configDir: join(dir, 'cfg'), env })).toEqual([
      join(dir, 'cfg', 'auth.json'),
      join(dir, 'env.json'),
      join(dir, 'run', 'containers', 'auth.json'),
      join(dir, 'home', '.docker', 'config.json'),
    ]);
    expect(authFiles({ env: { DOCKER_CONFIG: '/d' }, home: '/h' })).toEqual(['/d/config.json']);
    await mkdir(join(dir, 'cfg'));
    await mkdir(join(dir, 'home', '.docker'), { recursive: true });
    await writeFile(join(dir, 'cfg', 'auth.json'), JSON.stringify({ auths: { 'a.io': { auth: b64('cfg:1') } } }));
    await writeFile(join(dir, 'env.json'), JSON.stringify({ auths: { 'a.io': { auth: b64('env:1') }, 'b.io': { auth: b64('env:2') } } }));
    await writeFile(join(dir, 'home', '.docker', 'config.json'), JSON.stringify({ auths: { 'c.io': { auth: b64('docker:3') } } }));
    const src = { configDir: join(dir, 'cfg'), env };
    expect(await findCredentials(src, 'a.io', 'r')).toEqual({ username: 'cfg', password: '1' });
    expect(await findCredentials(src, 'b.io', 'r')).toEqual({ username: 'env', password: '2' });
    expect(await findCredentials(src, 'c.io', 'r')).toEqual({ username: 'docker', password: '3' });
    expect(await findCredentials(src, 'd.io', 'r')).toBeUndefined();
  });
});

describe('policy.json', () => {
  const policy = parsePolicy(
    JSON.stringify({
      default: [{ type: 'reject' }],
      transports: {
        docker: {
          'registry.example.com/team': [
            { type: 'signedBy', keyType: 'GPGKeys', keyPath: '/keys/team.gpg', signedIdentity: { type: 'matchRepository' } },
          ],
          'registry.example.com': [{ type: 'insecureAcceptAnything' }],
          '*.example.org': [{ type: 'signedBy', keyType: 'GPGKeys', keyPaths: ['/k1', 'rel/k2'] }],
          '': [{ type: 'reject' }],
        },
        'docker-archive': { '': [{ type: 'insecureAcceptAnything' }] },
      },
    }),
    '/etc/berth/policy.json',
  );

  it('chooses the most specific scope', () => {
    expect(requirementsFor(policy, 'docker', dockerScopes('registry.example.com', 'team/app', 'v1')).scope).toBe(
      'registry.example.com/team',
    );
    expect(requirementsFor(policy, 'docker', dockerScopes('registry.example.com', 'other/app', 'v1')).requirements).toEqual([
      { type: 'insecureAcceptAnything' },
    ]);
    expect(requirementsFor(policy, 'docker', dockerScopes('a.b.example.org', 'x')).scope).toBe('*.example.org');
    expect(requirementsFor(policy, 'docker', dockerScopes('quay.io', 'x')).scope).toBe('transports.docker[""]');
    expect(requirementsFor(policy, 'oci', pathScopes('/img/x', 'v1')).scope).toBe('default');
    expect(requirementsFor(policy, 'docker-archive', pathScopes('/img/x.tar')).requirements).toEqual([{ type: 'insecureAcceptAnything' }]);
  });

  it('resolves key paths relative to the policy file and defaults signedIdentity', () => {
    const r = policy.transports.docker?.['*.example.org']?.[0];
    expect(r).toEqual({
      type: 'signedBy',
      keyType: 'GPGKeys',
      keyPaths: ['/k1', '/etc/berth/rel/k2'],
      keyData: [],
      signedIdentity: { type: 'matchRepoDigestOrExact' },
    });
  });

  it('scopes of a reference, most specific first', () => {
    expect(dockerScopes('host:5000', 'a/b', 'v1', undefined)).toEqual([
      'host:5000/a/b:v1',
      'host:5000/a/b',
      'host:5000/a',
      'host:5000',
      '',
    ]);
    expect(dockerScopes('x.example.com', 'r', undefined, 'sha256:ab')).toEqual([
      'x.example.com/r@sha256:ab',
      'x.example.com/r',
      'x.example.com',
      '*.example.com',
      '*.com',
      '',
    ]);
  });

  it.each([
    ['{', 'not valid JSON'],
    ['{"default": []}', 'non-empty list'],
    ['{"default": [{"type": "acceptMaybe"}]}', 'unknown requirement type'],
    ['{"default": [{"type": "signedBy", "keyType": "X509Certificates", "keyPath": "/k"}]}', 'GPGKeys'],
    ['{"default": [{"type": "signedBy", "keyType": "GPGKeys"}]}', 'exactly one of'],
    [
      '{"default": [{"type": "signedBy", "keyType": "GPGKeys", "keyPath": "/k", "signedIdentity": {"type": "whatever"}}]}',
      'signedIdentity',
    ],
  ])('refuses %s', (text, why) => {
    expect(() => parsePolicy(text)).toThrow(expect.objectContaining({ code: 'InvalidArgument', message: expect.stringContaining(why) }));
  });

  it('sigstoreSigned is read but unsupported (an image under it is refused, never accepted)', () => {
    expect(parsePolicy('{"default": [{"type": "sigstoreSigned", "keyPath": "/k"}]}').default).toEqual([
      { type: 'unsupported', what: 'sigstoreSigned' },
    ]);
  });
});

describe('registries.d', () => {
  const d = parseRegistriesD([
    { file: 'a.yaml', text: 'default-docker:\n  lookaside: file:///var/lib/sigs\n' },
    {
      file: 'b.yaml',
      text: 'docker:\n  registry.example.com/team:\n    lookaside: https://sigs.example.com/store\n  quay.io:\n    sigstore: http://old.example.com/\n',
    },
  ]);

  it('most specific namespace, then default-docker; sigstore is the old name of lookaside', () => {
    expect(lookasideFor(d, 'registry.example.com/team/app')).toBe('https://sigs.example.com/store');
    expect(lookasideFor(d, 'quay.io/x/y')).toBe('http://old.example.com/');
    expect(lookasideFor(d, 'other.io/x')).toBe('file:///var/lib/sigs');
  });

  it('signature URLs as skopeo writes them: the repository path without the host', () => {
    expect(signatureUrl('file:///sigs/', 'host:5000/ns/app', 'sha256:abcd', 1)).toBe('file:///sigs/ns/app@sha256=abcd/signature-1');
  });

  it('refuses duplicates', () => {
    expect(() =>
      parseRegistriesD([
        { file: 'a', text: 'default-docker: {lookaside: file:///a}' },
        { file: 'b', text: 'default-docker: {lookaside: file:///b}' },
      ]),
    ).toThrow(/also defined/);
    expect(() =>
      parseRegistriesD([
        { file: 'a', text: 'docker: {x.io: {lookaside: file:///a}}' },
        { file: 'b', text: 'docker: {x.io: {lookaside: file:///b}}' },
      ]),
    ).toThrow(/defined twice/);
  });
});
