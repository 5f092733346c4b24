import { appRuntimeContract } from '../../contract/app-runtime.js';
import { FakeRuntime } from '../../fakes/app-runtime.js';
import { SimulatedClock } from '../../fakes/clock.js';
import { Pod } from '../../../src/api/pod.js';

appRuntimeContract('FakeRuntime', async () => {
  const clock = new SimulatedClock();
  const runtime = new FakeRuntime(clock);
  const pod = Pod.parse({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'contract', namespace: 'default', uid: 'uid-contract' },
    spec: { containers: [{ name: 'app', image: 'localhost/busybox:latest' }] },
  });
  return {
    runtime,
    id: (what) => `ports-fake-${what}`,
    launch: async (id, program, opts = {}) => {
      runtime.programs.set(id, program);
      return {
        containerId: id,
        podUid: pod.metadata.uid!,
        namespace: 'default',
        podName: 'contract',
        appName: 'app',
        execution: 0,
        bundleDir: `/bundles/${id}`,
        rootfsLower: '/rendered/contract',
        image: { Env: ['PATH=/bin'], ...(opts.stopSignal ? { StopSignal: opts.stopSignal } : {}) },
        container: pod.spec.containers[0]!,
        pod,
        hostname: 'contract',
        logPath: `/logs/${id}/0.log`,
      };
    },
    ready: async () => undefined,
    elapse: (ms) => clock.advance(ms),
    removeBundle: async (id) => runtime.removeBundle(id),
    podCgroup: (what) => `pod-ports-${what}`,
    cleanup: async () => undefined,
  };
});
