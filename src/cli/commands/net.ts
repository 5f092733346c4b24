/**
 * `berth net ls|inspect`: the networks berth can attach pods to (Network documents, conflists
 * of the CNI conf dirs, the built-in default), their plugins and the versions each plugin
 * speaks (VERSION), the attachments in the CNI cache (pod, container id, interface, IPs), and
 * each network's STATUS answer (CNI-16). Reads only; runs no ADD/DEL.
 */
import type { Command } from 'commander';
import { BerthError } from '../../common/errors.js';
import {
  CniError,
  parseNetworkConfigList,
  versionAtLeast,
  type CachedAttachment,
  type Cni,
  type NetworkConfigList,
} from '../../cni/index.js';
import { LOOPBACK_LIST } from '../../reconciler/attachments.js';
import { Reconciler } from '../../reconciler/index.js';
import { act, examples, opts } from '../common.js';
import { createLogger } from '../globals.js';
import { cniExecOf, createHost } from '../wire.js';

export interface NetPluginInfo {
  type: string;
  /** where the plugin was found in the plugin path; null when it is not there */
  path: string | null;
  supportedVersions: string[];
  error: string | null;
}

export interface NetAttachmentInfo {
  pod: string | null;
  containerId: string;
  ifName: string;
  ips: string[];
  netns: string;
}

export interface NetStatusInfo {
  /** ok: every plugin answered STATUS; unsupported: some plugin (or the list version) cannot; error: a plugin said no */
  state: 'ok' | 'unsupported' | 'error';
  message: string;
  code?: number;
}

export interface NetInfo {
  name: string;
  source: string;
  default: boolean;
  cniVersion: string;
  plugins: NetPluginInfo[];
  attachments: NetAttachmentInfo[];
  status: NetStatusInfo;
}

function podOf(a: CachedAttachment): string | null {
  const get = (k: string) => a.cniArgs.find(([key]) => key === k)?.[1];
  const ns = get('K8S_POD_NAMESPACE');
  const name = get('K8S_POD_NAME');
  return name ? `${ns ?? 'default'}/${name}` : null;
}

async function pluginInfo(cni: Cni, pluginPaths: string[], type: string): Promise<NetPluginInfo> {
  let path: string | null = null;
  try {
    path = await cniExecOf().findInPath(type, pluginPaths);
    const v = await cni.getVersionInfo(type);
    return { type, path, supportedVersions: v.supportedVersions, error: null };
  } catch (err) {
    return { type, path, supportedVersions: [], error: err instanceof Error ? err.message : String(err) };
  }
}

/**
 * The STATUS answer, honestly: below 1.1.0 libcni asks nothing, so berth says which plugins
 * could not answer anyway; at 1.1.0 every plugin is asked, and "unknown CNI_COMMAND" (code 4,
 * what the Debian 1.1.1 plugins say) is reported as not supported by that plugin.
 */
export async function statusOf(cni: Cni, list: NetworkConfigList, plugins: NetPluginInfo[]): Promise<NetStatusInfo> {
  const lacking = plugins.filter((p) => !p.supportedVersions.includes('1.1.0')).map((p) => p.type);
  const v = list.cniVersion || '0.1.0';
  let atLeast110 = false;
  try {
    atLeast110 = versionAtLeast(v, '1.1.0');
  } catch {
    atLeast110 = false; // an unparsable cniVersion is not 1.1.0 or later: STATUS is then reported as not supported
  }
  if (!atLeast110) {
    if (lacking.length) {
      return {
        state: 'unsupported',
        message: `not supported by plugin ${lacking.join(', ')} (STATUS needs CNI 1.1.0; the network uses ${v})`,
      };
    }
    return { state: 'unsupported', message: `not asked: STATUS needs cniVersion 1.1.0, the network uses ${v}` };
  }
  try {
    await cni.getStatusNetworkList(list);
    return { state: 'ok', message: 'ok' };
  } catch (err) {
    if (err instanceof CniError) {
      // Plugins older than STATUS: "unknown CNI_COMMAND" (code 4), or, with libcni's empty
      // CNI_CONTAINERID, skel's earlier "missing containerID" (code 3; Debian 1.1.1).
      if ((err.cniCode === 4 && /unknown CNI_COMMAND/i.test(err.msg)) || (err.cniCode === 3 && /missing containerID/i.test(err.msg))) {
        return { state: 'unsupported', message: `not supported by plugin ${err.plugin ?? '?'}`, code: err.cniCode };
      }
      if (err.cniCode === 1) return { state: 'unsupported', message: `not supported by plugin ${err.plugin ?? '?'}: ${err.msg}`, code: 1 };
      return { state: 'error', message: err.message, code: err.cniCode };
    }
    return { state: 'error', message: err instanceof Error ? err.message : String(err) };
  }
}

export async function collectNetworks(cmd: Command, only?: string): Promise<NetInfo[]> {
  const o = opts(cmd);
  const log = createLogger('error', true);
  const host = await createHost(o, log);
  const cni = host.cni;
  const desired = await new Reconciler(host, { cniConfDirs: o.cniConfDir }).loadDesired();
  const attachments = await cni.getCachedAttachments();
  const lists: Array<{ list: NetworkConfigList; source: string; isDefault: boolean }> = [];
  for (const n of desired.networks) {
    try {
      lists.push({ list: parseNetworkConfigList(JSON.stringify(n.conflist)), source: n.source.file, isDefault: n.network.spec.default });
    } catch {
      // a list that does not parse is reported by validate
    }
  }
  lists.push({ list: parseNetworkConfigList(LOOPBACK_LIST), source: '<builtin loopback>', isDefault: false });
  // Networks gone from the input that still have attachments in the cache.
  for (const a of attachments) {
    if (lists.some((l) => l.list.name === a.networkName) || !a.config) continue;
    try {
      lists.push({
        list: parseNetworkConfigList(Buffer.from(a.config, 'base64').toString('utf8')),
        source: '<cni cache only>',
        isDefault: false,
      });
    } catch {
      // unreadable cached config: that network is left out of the list
    }
  }
  const out: NetInfo[] = [];
  for (const { list, source, isDefault } of lists) {
    if (only !== undefined && list.name !== only) continue;
    const plugins = await Promise.all(list.plugins.map((p) => pluginInfo(cni, o.cniPluginDir, p.type)));
    out.push({
      name: list.name,
      source,
      default: isDefault,
      cniVersion: list.cniVersion,
      plugins,
      attachments: attachments
        .filter((a) => a.networkName === list.name)
        .map((a) => ({
          pod: podOf(a),
          containerId: a.containerId,
          ifName: a.ifName,
          ips: (a.result.ips ?? []).map((i) => i.address),
          netns: a.netns,
        })),
      status: await statusOf(cni, list, plugins),
    });
  }
  return out;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 2)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

const maxVersion = (p: NetPluginInfo) =>
  p.supportedVersions.length ? p.supportedVersions[p.supportedVersions.length - 1] : p.path ? '?' : 'missing';

export function netTable(nets: NetInfo[]): string {
  const rows = [['NAME', 'VERSION', 'PLUGINS', 'ATTACHMENTS', 'STATUS', 'SOURCE']];
  for (const n of nets) {
    rows.push([
      `${n.name}${n.default ? ' (default)' : ''}`,
      n.cniVersion,
      n.plugins.map((p) => `${p.type}@${maxVersion(p)}`).join(','),
      String(n.attachments.length),
      n.status.message,
      n.source,
    ]);
  }
  return table(rows);
}

export function netInspectText(n: NetInfo): string {
  const lines = [
    `Name:        ${n.name}${n.default ? ' (default)' : ''}`,
    `Source:      ${n.source}`,
    `CNI version: ${n.cniVersion}`,
    `Status:      ${n.status.message}${n.status.code !== undefined ? ` (code ${n.status.code})` : ''}`,
    'Plugins:',
  ];
  for (const p of n.plugins) {
    lines.push(
      `  ${p.type}  ${p.path ?? '(not in the plugin path)'}  ${p.supportedVersions.length ? `supports ${p.supportedVersions.join(', ')}` : (p.error ?? '')}`,
    );
  }
  lines.push(`Attachments: ${n.attachments.length}`);
  if (n.attachments.length) {
    const rows = [['  POD', 'CONTAINER ID', 'INTERFACE', 'IPS', 'NETNS']];
    for (const a of n.attachments) rows.push([`  ${a.pod ?? '-'}`, a.containerId, a.ifName, a.ips.join(',') || '-', a.netns || '-']);
    lines.push(table(rows));
  }
  return lines.join('\n');
}

export function register(program: Command): void {
  const net = program
    .command('net')
    .description('networks and attachments')
    .addHelpText(
      'after',
      examples([
        ['every network berth knows, with its attachments', 'berth net ls'],
        ['one network in detail', 'berth net inspect podnet'],
      ]),
    );
  net
    .command('ls')
    .description('networks, their plugins and versions, attachments and STATUS')
    .option('-o, --output <format>', 'json')
    .addHelpText(
      'after',
      examples([
        ['every network (Network documents, conflists, the built-in default) with its attachments', 'berth net ls'],
        ['as JSON', 'berth net ls -o json'],
      ]),
    )
    .action(
      act(async (cmdOpts: { output?: string }, cmd: Command) => {
        const nets = await collectNetworks(cmd);
        if (cmdOpts.output === 'json') process.stdout.write(`${JSON.stringify({ networks: nets }, null, 2)}\n`);
        else process.stdout.write(`${netTable(nets)}\n`);
        return 0;
      }),
    );
  net
    .command('inspect')
    .description('one network in detail')
    .argument('<name>', 'network name')
    .option('-o, --output <format>', 'json')
    .addHelpText('after', examples([['the CNI configuration list, subnets and attachments of network podnet', 'berth net inspect podnet']]))
    .action(
      act(async (name: string, cmdOpts: { output?: string }, cmd: Command) => {
        const nets = await collectNetworks(cmd, name);
        const n = nets[0];
        if (!n) throw new BerthError('NotFound', `network ${name} not found`);
        if (cmdOpts.output === 'json') process.stdout.write(`${JSON.stringify(n, null, 2)}\n`);
        else process.stdout.write(`${netInspectText(n)}\n`);
        return 0;
      }),
    );
}
