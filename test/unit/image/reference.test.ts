import { describe, expect, it } from 'vitest';
import { formatImageReference, parseImageReference } from '../../../src/image/index.js';
import { hasCode } from '../../../src/common/index.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference: local transports', () => {
  it.each([
    ['oci:/var/images/bb', { transport: 'oci', path: '/var/images/bb' }],
    ['oci:/var/images/bb:latest', { transport: 'oci', path: '/var/images/bb', tag: 'latest' }],
    ['oci-archive:/x/bb.tar', { transport: 'oci-archive', path: '/x/bb.tar' }],
    ['oci-archive:/x/bb.tar:v1.2', { transport: 'oci-archive', path: '/x/bb.tar', tag: 'v1.2' }],
    // containers-transports(5): the path ends at the first ':'; the rest is the tag (skopeo writes such names).
    ['oci-archive:/x/bb.tar:localhost/busybox:latest', { transport: 'oci-archive', path: '/x/bb.tar', tag: 'localhost/busybox:latest' }],
  ])('%s', (raw, want) => {
    expect(parseImageReference(raw)).toEqual({ ...want, raw });
  });

  it.each(['oci:relative/path', 'oci:./x', 'oci-archive:x.tar:tag', 'oci:', 'oci:/x:', 'oci:/x:bad tag', ''])(
    'rejects %j with InvalidArgument',
    (raw) => {
      let err: unknown;
      try {
        parseImageReference(raw);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'InvalidArgument')).toBe(true);
    },
  );

  it('docker-archive: path and optional reference or @index', () => {
    expect(parseImageReference('docker-archive:/x.tar')).toEqual({
      transport: 'docker-archive',
      path: '/x.tar',
      raw: 'docker-archive:/x.tar',
    });
    expect(parseImageReference('docker-archive:/x.tar:localhost/busybox:latest')).toMatchObject({
      path: '/x.tar',
      tag: 'localhost/busybox:latest',
    });
    expect(parseImageReference('docker-archive:/x.tar:@1')).toMatchObject({ path: '/x.tar', tag: '@1' });
    expect(() => parseImageReference('docker-archive:x.tar')).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });

  it.each(['dir:/x', 'containers-storage:busybox'])('later transports are Unimplemented: %s', (raw) => {
    expect(() => parseImageReference(raw)).toThrow(expect.objectContaining({ code: 'Unimplemented' }));
  });
});

describe('parseImageReference: registry references (DST-01/02)', () => {
  it.each([
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['busybox:1.36', 'docker.io', 'library/busybox', '1.36', undefined],
    ['docker://busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['index.docker.io/library/busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['docker.io/foo/bar:baz', 'docker.io', 'foo/bar', 'baz', undefined],
    ['foo/bar', 'docker.io', 'foo/bar', 'latest', undefined],
    ['localhost/foo', 'localhost', 'foo', 'latest', undefined],
    ['localhost:5000/a/b/c:tag', 'localhost:5000', 'a/b/c', 'tag', undefined],
    ['127.0.0.1:5000/feas/busybox:latest', '127.0.0.1:5000', 'feas/busybox', 'latest', undefined],
    ['registry.example.com:5000/app:1.0', 'registry.example.com:5000', 'app', '1.0', undefined],
    [`host:5000/a/b:tag@${D}`, 'host:5000', 'a/b', 'tag', D],
    [`busybox@${D}`, 'docker.io', 'library/busybox', undefined, D],
    ['Example.com/app', 'Example.com', 'app', 'latest', undefined],
    ['a_b-c__d/x--y.z', 'docker.io', 'a_b-c__d/x--y.z', 'latest', undefined],
    ['a.b/c', 'a.b', 'c', 'latest', undefined],
  ])('%s', (raw, registry, repository, tag, digest) => {
    const ref = parseImageReference(raw);
    expect(ref).toEqual({
      transport: 'docker',
      raw,
      registry,
      repository,
      ...(tag === undefined ? {} : { tag }),
      ...(digest === undefined ? {} : { digest }),
    });
  });

  it.each([
    ['Busybox', 'uppercase in the path'],
    ['foo/Bar', 'uppercase in the path'],
    ['a'.repeat(64), 'a bare 64-hex id'],
    ['busybox:-bad', 'tag starts with -'],
    [`busybox:${'t'.repeat(129)}`, 'tag too long'],
    ['busybox@sha256:ABC', 'invalid digest'],
    [`busybox@sha256:${'A'.repeat(64)}`, 'uppercase digest'],
    ['busybox@md5:abc', 'unknown algorithm'],
    ['foo//bar', 'empty component'],
    ['foo/bar-', 'trailing separator'],
    [`${'a'.repeat(250)}/${'b'.repeat(10)}`, 'name longer than 255'],
    ['host:5000/', 'missing path'],
  ])('rejects %j (%s)', (raw) => {
    expect(() => parseImageReference(raw)).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
  });

  it('formats canonically', () => {
    expect(formatImageReference(parseImageReference('busybox'))).toBe('docker.io/library/busybox:latest');
    expect(formatImageReference(parseImageReference(`h:5/a@${D}`))).toBe(`h:5/a@${D}`);
    expect(formatImageReference(parseImageReference('oci:/x:t'))).toBe('oci:/x:t');
  });
});
