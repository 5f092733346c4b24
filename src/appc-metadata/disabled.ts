/**
 * The appc metadata service of a berth that runs none (a command that only reads: status,
 * describe, --dry-run). A pod's ACI app needs its `AC_METADATA_URL` (appc spec/ace.md), so
 * serving a pod is refused with the reason; nothing is ever served, so there is nothing to
 * stop serving.
 */
import { BerthError } from '../common/errors.js';
import type { AppcMetadataService, PodMetadata } from './types.js';

export class DisabledAppcMetadataService implements AppcMetadataService {
  /** `why`: what runs no metadata service, for the refusal ("berth status only reads") */
  constructor(private readonly why: string) {}

  register(p: PodMetadata): Promise<string> {
    return Promise.reject(
      new BerthError(
        'FailedPrecondition',
        `the appc metadata service is not enabled (${this.why}): pod ${p.uid} cannot be served its AC_METADATA_URL`,
      ),
    );
  }

  /** nothing was registered */
  async unregister(_uid: string): Promise<void> {}

  async close(): Promise<void> {}
}
