import { describe, expect, it } from 'vitest';
import { containerId, netnsName, podShortId, podUid } from '../../../src/reconciler/layout.js';

describe('pod identity', () => {
  it('is a stable RFC 9562 UUID (version 8, variant 10) per installation, pod and spec', () => {
    const uid = podUid('inst', 'default/web', 'h1');
    expect(uid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(podUid('inst', 'default/web', 'h1')).toBe(uid);
    expect(podUid('inst', 'default/web', 'h2')).not.toBe(uid);
    expect(podUid('other', 'default/web', 'h1')).not.toBe(uid);
  });

  it('names host objects with the berth prefix and a 12-hex short id', () => {
    const uid = '0123abcd-4567-8901-abcd-ef0123456789';
    expect(podShortId(uid)).toBe('0123abcd4567');
    expect(netnsName(uid)).toBe('berth-0123abcd4567');
    expect(containerId(uid, 'web')).toBe('berth-0123abcd4567-web');
  });
});
