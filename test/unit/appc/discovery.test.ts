/** Meta discovery parsing and templates (appc/spec `discovery/discovery_test.go` shapes). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { discoveryPrefixes, endpointsFromMeta, extractAcMeta, renderTemplate, templateVars } from '../../../src/image/appc/discovery.js';

const fixture = (n: string) => readFileSync(join(import.meta.dirname, '../../fixtures/appc/discovery', n), 'utf8');
const labels = { version: '1.0.0', os: 'linux', arch: 'amd64' };
const aci = (host: string, tpl = '{name}-1.0.0-linux-amd64') => {
  const base = `https://${host}/${tpl.replace('{name}', 'example.com/myapp')}`;
  return { aci: `${base}.aci`, asc: `${base}.aci.asc` };
};
const KEYS = ['https://example.com/pubkeys.gpg'];

describe('meta tags', () => {
  it.each([
    ['meta01.html', [aci('storage.example.com')], KEYS],
    ['meta02.html', [aci('storage.example.com')], []],
    ['meta03.html', [], KEYS],
    ['meta04.html', [aci('another.storage.example.com')], KEYS],
    ['meta05.html', [aci('storage.example.com'), aci('storage.example.com', '{name}-1.0.0')], KEYS],
    [
      'meta06.html',
      [
        aci('storage.example.com'),
        aci('storage.example.com', '{name}-1.0.0'),
        {
          aci: 'hdfs://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci',
          asc: 'hdfs://storage.example.com/example.com/myapp-1.0.0-linux-amd64.aci.asc',
        },
      ],
      KEYS,
    ],
  ])('%s', (file, endpoints, pubkeys) => {
    expect(endpointsFromMeta(extractAcMeta(fixture(file)), 'example.com/myapp', labels)).toEqual({ endpoints, pubkeys });
  });

  it('ignores tags for other prefixes, malformed contents and non-ac names; reads quoted and single-quoted attributes', () => {
    const html = `<meta name="ac-discovery" content="other.com https://x/{name}.{ext}">
      <META content='example.com https://y/{name}.{ext}' name='ac-discovery' />
      <meta name="ac-discovery" content="example.com">
      <meta name="description" content="example.com https://z/{name}.{ext}">
      <!-- <meta name="ac-discovery" content="example.com https://commented/{name}.{ext}"> -->`;
    expect(endpointsFromMeta(extractAcMeta(html), 'example.com/app', {})).toEqual({
      endpoints: [{ aci: 'https://y/example.com/app.aci', asc: 'https://y/example.com/app.aci.asc' }],
      pubkeys: [],
    });
  });
});

describe('templates', () => {
  it('substitutes name, version (default latest), os, arch and other labels; skips templates left with {…}', () => {
    const vars = templateVars('example.com/app', { os: 'linux', channel: 'beta' });
    expect(renderTemplate('https://h/{name}/{version}/{os}/{channel}', vars)).toEqual({
      text: 'https://h/example.com/app/latest/linux/beta',
      ok: true,
    });
    expect(renderTemplate('https://h/{name}-{arch}', vars)).toEqual({ text: 'https://h/example.com/app-{arch}', ok: false });
    const meta = [{ name: 'ac-discovery' as const, prefix: 'example.com', uri: 'https://h/{name}-{version}-{arch}.{ext}' }];
    expect(endpointsFromMeta(meta, 'example.com/app', { os: 'linux' }).endpoints).toEqual([]);
    expect(endpointsFromMeta(meta, 'example.com/app', { arch: 'amd64' }).endpoints).toEqual([
      { aci: 'https://h/example.com/app-latest-amd64.aci', asc: 'https://h/example.com/app-latest-amd64.aci.asc' },
    ]);
  });

  it('a label called name never overrides the name', () => {
    expect(renderTemplate('{name}', templateVars('example.com/app', { name: 'evil' })).text).toBe('example.com/app');
  });

  it('tries the name, then each parent path', () => {
    expect(discoveryPrefixes('example.com/team/app')).toEqual(['example.com/team/app', 'example.com/team', 'example.com']);
  });
});
