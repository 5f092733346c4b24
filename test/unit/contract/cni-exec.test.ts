import { PluginExitError } from '../../../src/cni/errors.js';
import { cniExecContract } from '../../contract/cni-exec.js';
import { FakeCniExec } from '../cni/fake-cni-exec.js';

cniExecContract('FakeCniExec', async () => {
  const pluginDir = '/opt/fake-cni/bin';
  const exec = new FakeCniExec();
  exec.installed = new Set([`${pluginDir}/loopback`]);
  // what the reference loopback plugin answers
  exec.on(
    'loopback',
    'VERSION',
    JSON.stringify({ cniVersion: '1.0.0', supportedVersions: ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0'] }),
  );
  exec.on('loopback', 'ADD', (call) => {
    const missing = ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'].filter((k) => !call.env[k]);
    if (missing.length === 0) return '';
    throw new PluginExitError(
      call.pluginPath,
      1,
      JSON.stringify({ code: 4, msg: `required env variables [${missing.join(',')}] missing` }),
      '',
    );
  });
  return { exec, paths: ['/opt/fake-cni/empty', pluginDir], pluginDir, cleanup: async () => undefined };
});
