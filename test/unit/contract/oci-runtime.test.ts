import { ociRuntimeContract } from '../../contract/oci-runtime.js';
import { FakeOciRuntime } from '../../fakes/oci-runtime.js';

ociRuntimeContract('FakeOciRuntime', async () => {
  const runtime = new FakeOciRuntime();
  return {
    runtime,
    id: (what) => `berth-fake-${what}`,
    create: async (id) => runtime.create(id, `/bundles/${id}`),
    processFile: async (id, code) => {
      const file = `/bundles/${id}/exec-${code}.json`;
      runtime.execResults.set(file, { exitCode: code, stdout: '', stderr: '', timedOut: false });
      return file;
    },
    oneShotBundle: async (id, code) => {
      runtime.runExitCode = code;
      return `/bundles/${id}`;
    },
    cleanup: async () => undefined,
  };
});
