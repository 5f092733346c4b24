import { cniContract } from '../../contract/cni.js';
import { FakeCni, FakeNetns } from '../../fakes/host.js';

cniContract('FakeCni', async () => {
  const netns = new FakeNetns();
  const cni = new FakeCni(netns);
  cni.missingTypes.add('berth-ports-missing');
  return {
    cni,
    plugins: [{ type: 'bridge', bridge: 'brports0', ipam: { type: 'host-local', ranges: [[{ subnet: '10.223.7.0/24' }]] } }],
    missingType: 'berth-ports-missing',
    attachment: async (what) => ({ containerId: `ports-${what}`, netns: await netns.ensure(`berth-ports-${what}`), ifName: 'eth0' }),
    cleanup: async () => undefined,
  };
});
