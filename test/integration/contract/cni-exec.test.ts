/** The CniExec contract against ExecCni running the reference plugins in /usr/lib/cni. */
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { ExecCni } from '../../../src/cni/index.js';
import { cniExecContract } from '../../contract/cni-exec.js';

const PLUGINS = '/usr/lib/cni';

if (existsSync(`${PLUGINS}/loopback`)) {
  cniExecContract('ExecCni (reference plugins)', async () => {
    const empty = await mkdtemp('/tmp/berth-ports-cniexec-');
    return { exec: new ExecCni(), paths: [empty, PLUGINS], pluginDir: PLUGINS, cleanup: () => rm(empty, { recursive: true, force: true }) };
  });
}
