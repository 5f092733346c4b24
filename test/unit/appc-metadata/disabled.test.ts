/** The appc metadata service of a berth that runs none (disabled.ts): it refuses to serve, and has nothing to stop serving. */
import { describe, expect, it } from 'vitest';
import { codeOf } from '../../../src/common/errors.js';
import { DisabledAppcMetadataService } from '../../../src/appc-metadata/disabled.js';

const pod = { uid: '2d3b5bb4-63f0-8d67-bdb6-da1df898fbb3', podIP: '10.88.0.5', manifest: {}, annotations: [], apps: [] };

describe('DisabledAppcMetadataService', () => {
  it('refuses to serve a pod, saying the service is not enabled and why', async () => {
    const svc = new DisabledAppcMetadataService('berth status only reads');
    const err = await svc.register(pod).catch((e: unknown) => e);
    expect(codeOf(err)).toBe('FailedPrecondition');
    expect((err as Error).message).toBe(
      `the appc metadata service is not enabled (berth status only reads): pod ${pod.uid} cannot be served its AC_METADATA_URL`,
    );
  });

  it('unregister (of a pod it never served) and close are no-ops, also after a refused register', async () => {
    const svc = new DisabledAppcMetadataService('test');
    await svc.register(pod).catch(() => undefined);
    await expect(svc.unregister(pod.uid)).resolves.toBeUndefined();
    await expect(svc.close()).resolves.toBeUndefined();
    await expect(svc.unregister('never-seen')).resolves.toBeUndefined();
  });
});
