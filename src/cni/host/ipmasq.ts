/**
 * Masquerade rules a plugin's DEL left behind (issue 14 item 11).
 *
 * The bridge and ptp plugins (`ipMasq: true`) add, per attachment, a nat chain named from the
 * network name and the container id (`CNI-` + the first 24 hex digits of sha512(name + id)),
 * two rules in it and one rule in POSTROUTING that sends the pod's address there, every rule
 * commented `name: "<network>" id: "<containerId>"`. Their DEL tears this down only for the
 * addresses it finds on the pod's interface: once eth0 is gone (a deleted veth, a namespace
 * lost in a reboot) the plugin succeeds and leaves the rule and the chain. The attachment's
 * own names are known without the interface, so after a successful DEL berth looks for them
 * in the nat table and removes what is left, in one `iptables-restore --noflush` transaction:
 *   - chains it owns: the ipMasq chain, and any other `CNI-` chain whose every rule carries the
 *     attachment's comment (flushed, then deleted);
 *   - rules elsewhere that carry the comment or jump to a chain it owns (deleted one by one).
 * Nothing else is touched: rules are matched on the exact comment and chain names, never on
 * an address (a released address may belong to another pod a moment later). portmap's rules
 * (comment `dnat name: …`) are not matched: its DEL finds them by name without the interface.
 * Only the nat table: the reference plugins' masquerading lives there alone.
 */
import { createHash } from 'node:crypto';
import { execa } from '../../common/process.js';
import { errnoOf, errorMessage } from '../../common/errors.js';
import type { Logger } from '../../common/logger.js';
import type { NetworkConfigList } from '../types.js';

/** The chain name the reference plugins give an attachment's masquerade rules. */
export function ipMasqChainName(network: string, containerId: string): string {
  return `CNI-${createHash('sha512')
    .update(network + containerId)
    .digest('hex')
    .slice(0, 24)}`;
}

/** The comment on each of those rules. */
export function ipMasqComment(network: string, containerId: string): string {
  return `name: ${JSON.stringify(network)} id: ${JSON.stringify(containerId)}`;
}

/** Does any plugin of the list masquerade (and so make such a chain)? */
export function listMasquerades(list: Pick<NetworkConfigList, 'plugins'>): boolean {
  return list.plugins.some((p) => p.ipMasq === true);
}

export interface IptablesLeftovers {
  /** `-A CHAIN …` lines of iptables-save, rules outside the owned chains */
  rules: string[];
  /** chains to flush and delete */
  chains: string[];
}

/** How iptables-save writes a comment argument: double quotes, inner quotes escaped. */
const savedComment = (comment: string) => `--comment "${comment.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * The attachment's leftovers in the nat table of `save` (output of `iptables-save -t nat`).
 * Pure; exported for tests.
 */
export function findLeftovers(save: string, network: string, containerId: string): IptablesLeftovers {
  const mark = savedComment(ipMasqComment(network, containerId));
  const chains = new Set<string>();
  const rulesOf = new Map<string, string[]>();
  let inNat = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) inNat = line === '*nat';
    if (!inNat) continue;
    const decl = /^:(\S+) /.exec(line);
    if (decl) chains.add(decl[1]!);
    const rule = /^-A (\S+) /.exec(line);
    if (rule) rulesOf.set(rule[1]!, [...(rulesOf.get(rule[1]!) ?? []), line]);
  }
  const owned = new Set<string>();
  const masq = ipMasqChainName(network, containerId);
  if (chains.has(masq)) owned.add(masq);
  for (const [chain, lines] of rulesOf) {
    if (chain.startsWith('CNI-') && !chain.startsWith('CNI-HOSTPORT-') && lines.every((l) => l.includes(mark))) owned.add(chain);
  }
  const jumpsTo = (l: string) =>
    [...owned].some((c) => l.endsWith(` -j ${c}`) || l.includes(` -j ${c} `) || l.endsWith(` -g ${c}`) || l.includes(` -g ${c} `));
  const rules: string[] = [];
  for (const [chain, lines] of rulesOf) {
    if (owned.has(chain)) continue;
    for (const l of lines) if (l.includes(mark) || jumpsTo(l)) rules.push(l);
  }
  return { rules, chains: [...owned].sort() };
}

/** The iptables-restore input that removes them (rules first, so that the chains are unreferenced). */
export function removalScript(l: IptablesLeftovers): string {
  return [
    '*nat',
    ...l.rules.map((r) => r.replace(/^-A /, '-D ')),
    ...l.chains.map((c) => `-F ${c}`),
    ...l.chains.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}

/** The two iptables calls berth needs; `prefix` runs them elsewhere (tests: `ip netns exec NS`). */
export interface Iptables {
  save(family: 4 | 6): Promise<string>;
  restore(family: 4 | 6, script: string): Promise<void>;
}

export class HostIptables implements Iptables {
  constructor(private readonly prefix: string[] = []) {}

  private run(cmd: string, args: string[], input?: string) {
    const argv = [...this.prefix, cmd, ...args];
    return execa(argv[0]!, argv.slice(1), { ...(input !== undefined ? { input } : {}), stripFinalNewline: false });
  }

  async save(family: 4 | 6): Promise<string> {
    return (await this.run(family === 4 ? 'iptables-save' : 'ip6tables-save', ['-t', 'nat'])).stdout;
  }

  async restore(family: 4 | 6, script: string): Promise<void> {
    await this.run(family === 4 ? 'iptables-restore' : 'ip6tables-restore', ['--noflush', '-w', '5'], script);
  }
}

/**
 * One iptables-save shared by the callers that ask while it has not started yet (the DELs of
 * pods torn down side by side): each caller still gets a table read after it asked, never an
 * older one, and a table is read by one save at a time. Restores pass through (each removes
 * only its own attachment's rules; a transaction that fails is read again by its caller).
 */
export function sharedSaves(ipt: Iptables): Iptables {
  const waiting = new Map<4 | 6, Promise<string>>(); // asked for, not started
  const running = new Map<4 | 6, Promise<unknown>>();
  return {
    restore: (family, script) => ipt.restore(family, script),
    save(family) {
      const joined = waiting.get(family);
      if (joined) return joined;
      const start = () => {
        waiting.delete(family);
        const r = ipt.save(family);
        const done = r.catch(() => undefined);
        running.set(family, done);
        void done.then(() => running.get(family) === done && running.delete(family));
        return r;
      };
      const next = (running.get(family) ?? Promise.resolve()).then(start);
      waiting.set(family, next);
      return next;
    },
  };
}

/**
 * Remove the attachment's leftovers from the nat tables of the given families. Returns the
 * rules and chains removed (logged by the caller). A rule that vanishes meanwhile (another
 * writer) fails the transaction: the table is read again, three times at most. No iptables
 * binary on the host means nothing to clean.
 */
export async function removeIpMasqLeftovers(
  ipt: Iptables,
  a: { network: string; containerId: string; families: Array<4 | 6> },
  log?: Logger,
): Promise<string[]> {
  const removed: string[] = [];
  for (const family of a.families) {
    for (let attempt = 0; ; attempt++) {
      let save: string;
      try {
        save = await ipt.save(family);
      } catch (err) {
        if (errnoOf(err) === 'ENOENT' || errnoOf((err as { cause?: unknown }).cause) === 'ENOENT') break;
        throw err;
      }
      const left = findLeftovers(save, a.network, a.containerId);
      if (!left.rules.length && !left.chains.length) break;
      try {
        await ipt.restore(family, removalScript(left));
        removed.push(
          ...left.rules.map((r) => `${family === 4 ? 'iptables' : 'ip6tables'} -t nat ${r.replace(/^-A /, '-D ')}`),
          ...left.chains.map((c) => `${family === 4 ? 'iptables' : 'ip6tables'} -t nat -X ${c}`),
        );
        break;
      } catch (err) {
        if (attempt >= 2) throw err;
        log?.debug({ err: errorMessage(err), family, attempt }, 'iptables leftovers changed while being removed; reading again');
      }
    }
  }
  return removed;
}
