/**
 * `berth trust add|ls|rm`: keys per image prefix.
 *
 * docker (default): the key file is copied to `<config-dir>/keys/<fingerprint>.gpg` and
 * `<config-dir>/policy.json` gets `transports.docker[PREFIX] = [{type: signedBy, keyType:
 * GPGKeys, keyPaths: [...]}]` (a second key for the same prefix is added to keyPaths: either
 * key then suffices). The rest of policy.json is kept as written; without a policy.json the
 * new one starts from `default: [insecureAcceptAnything]`.
 *
 * appc: rkt's layout, read by the appc verifier: `<config-dir>/trustedkeys/prefix.d/<prefix>/<fingerprint>`
 * or, with --root, `<config-dir>/trustedkeys/root.d/<fingerprint>` (armored, lowercase hex
 * fingerprint as the file name).
 */
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Command } from 'commander';
import type * as openpgp from 'openpgp';
import { BerthError, errorMessage, errnoOf, readTextIfExists, writeFileAtomic, writeJsonAtomic } from '../../common/index.js';
import { parsePolicy, policyPath } from '../../image/config/policy.js';
import { readPublicKeys } from '../../image/signature/simple-signing.js';
import { table } from '../format.js';
import { act, examples, opts } from '../common.js';
import { layoutOf } from '../globals.js';
import { imageServiceOf } from '../wire.js';

interface RawPolicy {
  default: unknown[];
  transports?: Record<string, Record<string, Array<Record<string, unknown>>>>;
  [k: string]: unknown;
}

async function readPolicy(configDir: string): Promise<RawPolicy> {
  const text = await readTextIfExists(policyPath(configDir));
  if (text === undefined) return { default: [{ type: 'insecureAcceptAnything' }], transports: {} };
  parsePolicy(text, policyPath(configDir)); // refuse to edit a policy berth cannot read
  return JSON.parse(text) as RawPolicy;
}

async function writePolicy(configDir: string, p: RawPolicy): Promise<void> {
  parsePolicy(JSON.stringify(p), policyPath(configDir));
  await writeJsonAtomic(policyPath(configDir), p);
}

/** A prefix as a relative path (appc names and docker prefixes): no empty, `.` or `..` components. */
export function prefixPath(prefix: string): string {
  const clean = posix.normalize(prefix).replace(/^\/+|\/+$/g, '');
  if (!clean || clean.split('/').some((c) => c === '.' || c === '..' || c === ''))
    throw new BerthError('InvalidArgument', `invalid prefix "${prefix}"`);
  return clean;
}

async function loadKeys(file: string): Promise<{ data: Buffer; keys: openpgp.Key[] }> {
  let data: Buffer;
  try {
    data = await readFile(file);
  } catch (err) {
    throw new BerthError('NotFound', `key file ${file}: ${errorMessage(err)}`, { cause: err });
  }
  const keys = await readPublicKeys(data, file);
  if (keys.length === 0) throw new BerthError('InvalidArgument', `${file} holds no public key`);
  if (keys.some((k) => k.isPrivate()))
    throw new BerthError('InvalidArgument', `${file} holds a private key; give the public key (gpg --export)`);
  return { data, keys };
}

export interface TrustEntry {
  transport: 'docker' | 'appc';
  prefix: string;
  type: string;
  keys: string[];
}

async function listAppc(configDir: string): Promise<TrustEntry[]> {
  const out: TrustEntry[] = [];
  const base = join(configDir, 'trustedkeys');
  const walk = async (dir: string, rel: string): Promise<void> => {
    let ents;
    try {
      ents = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (errnoOf(err) === 'ENOENT') return;
      throw err;
    }
    const files = ents
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort();
    if (files.length) out.push({ transport: 'appc', prefix: rel, type: 'trustedkeys', keys: files });
    for (const e of ents.filter((x) => x.isDirectory())) await walk(join(dir, e.name), rel ? `${rel}/${e.name}` : e.name);
  };
  await walk(join(base, 'prefix.d'), '');
  try {
    const roots = (await readdir(join(base, 'root.d'))).sort();
    if (roots.length) out.push({ transport: 'appc', prefix: '(root)', type: 'trustedkeys', keys: roots });
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw err;
  }
  return out;
}

export async function listTrust(configDir: string): Promise<TrustEntry[]> {
  const out: TrustEntry[] = [];
  const text = await readTextIfExists(policyPath(configDir));
  if (text !== undefined) {
    const policy = parsePolicy(text, policyPath(configDir));
    const describe = async (reqs: typeof policy.default) => {
      const keys: string[] = [];
      for (const r of reqs) {
        if (r.type !== 'signedBy') continue;
        for (const p of r.keyPaths) {
          try {
            keys.push(...(await readPublicKeys(await readFile(p), p)).map((k) => k.getFingerprint()));
          } catch {
            keys.push(`${p} (unreadable)`);
          }
        }
        if (r.keyData.length) keys.push('(keyData)');
      }
      return keys;
    };
    out.push({
      transport: 'docker',
      prefix: '(default)',
      type: policy.default.map((r) => r.type).join('+'),
      keys: await describe(policy.default),
    });
    for (const [t, scopes] of Object.entries(policy.transports)) {
      for (const [scope, reqs] of Object.entries(scopes)) {
        out.push({
          transport: t as 'docker',
          prefix: scope || `(${t} default)`,
          type: reqs.map((r) => r.type).join('+'),
          keys: await describe(reqs),
        });
      }
    }
  }
  return [...out, ...(await listAppc(configDir))];
}

export function register(program: Command): void {
  const trust = program
    .command('trust')
    .description('signature trust: keys per image prefix')
    .addHelpText(
      'after',
      examples([
        ['require signatures by this key for images under a prefix', 'berth trust add --prefix registry.example.com/team key.asc'],
        ['what is trusted', 'berth trust ls'],
      ]),
    );

  trust
    .command('add')
    .description(
      'trust KEYFILE (an OpenPGP public key) for images under --prefix; appc keys can be discovered instead (--discover NAME --fingerprint FPR)',
    )
    .argument('[keyfile]')
    .option('--prefix <prefix>', 'image prefix (docker: host[/namespace…]; appc: name prefix)')
    .option('--transport <transport>', 'docker or appc', 'docker')
    .option('--root', 'appc: a root key, trusted for every prefix')
    .option('--discover <name>', 'appc: fetch the key from the ac-discovery-pubkeys of NAME (needs --fingerprint)')
    .option('--fingerprint <fpr>', 'with --discover: the fingerprint you checked out of band; any other key is refused')
    .addHelpText(
      'after',
      examples([
        [
          'trust an OpenPGP key for images under a registry namespace (policy.json signedBy)',
          'berth trust add --prefix registry.example.com/team key.asc',
        ],
        [
          'appc: fetch the key by meta discovery, accepting only the fingerprint checked out of band',
          'berth trust add --transport appc --prefix example.com/app --discover example.com/app --fingerprint 0123ABCD...',
        ],
      ]),
    )
    .action(
      act(
        async (
          keyfile: string | undefined,
          c: { prefix?: string; transport: string; root?: boolean; discover?: string; fingerprint?: string },
          cmd: Command,
        ) => {
          const { configDir, stateDir } = layoutOf(opts(cmd));
          if (c.discover !== undefined) {
            if (c.transport !== 'appc' && c.transport !== 'docker')
              throw new BerthError('InvalidArgument', '--transport must be docker or appc');
            if (!c.fingerprint) {
              throw new BerthError(
                'InvalidArgument',
                `--discover trusts a key only with --fingerprint: check the fingerprint of ${c.discover}'s key out of band, then pass it`,
              );
            }
            const images = await imageServiceOf({ stateDir, configDir });
            const found = await images.discoverAppcKey(c.discover, c.fingerprint.replace(/\s+/g, '').toLowerCase());
            const prefix = c.prefix ?? found.prefix;
            const f = join(configDir, 'trustedkeys', 'prefix.d', prefixPath(prefix), found.fingerprint.toLowerCase());
            await writeFileAtomic(f, found.armored, 0o644);
            process.stdout.write(`trusted ${found.fingerprint.toLowerCase()} from ${found.url} for appc prefix ${prefix}: ${f}\n`);
            return 0;
          }
          if (keyfile === undefined)
            throw new BerthError('InvalidArgument', 'a KEYFILE is required (or --discover NAME --fingerprint FPR for appc)');
          if (c.prefix === undefined && !(c.root && c.transport === 'appc'))
            throw new BerthError('InvalidArgument', '--prefix is required (except for --transport appc --root)');
          const givenPrefix = c.prefix ?? '';
          const { data, keys } = await loadKeys(keyfile);
          const fprs = keys.map((k) => k.getFingerprint().toLowerCase());
          if (c.transport === 'appc') {
            const dir = c.root
              ? join(configDir, 'trustedkeys', 'root.d')
              : join(configDir, 'trustedkeys', 'prefix.d', prefixPath(givenPrefix));
            for (const k of keys) {
              const f = join(dir, k.getFingerprint().toLowerCase());
              await writeFileAtomic(f, k.armor(), 0o644);
              process.stdout.write(
                `trusted ${k.getFingerprint().toLowerCase()} for appc ${c.root ? 'root' : `prefix ${givenPrefix}`}: ${f}\n`,
              );
            }
            return 0;
          }
          if (c.transport !== 'docker') throw new BerthError('InvalidArgument', `--transport must be docker or appc`);
          if (c.root) throw new BerthError('InvalidArgument', '--root applies to --transport appc');
          const prefix = givenPrefix.replace(/\/+$/, '');
          if (!prefix) throw new BerthError('InvalidArgument', '--prefix must not be empty');
          const keyPath = join(configDir, 'keys', `${fprs[0]}.gpg`);
          await writeFileAtomic(keyPath, data, 0o644);
          const policy = await readPolicy(configDir);
          policy.transports ??= {};
          policy.transports.docker ??= {};
          const existing = policy.transports.docker[prefix];
          const signed =
            existing?.length === 1 &&
            existing[0]?.type === 'signedBy' &&
            existing[0].keyType === 'GPGKeys' &&
            existing[0].keyData === undefined
              ? existing[0]
              : undefined;
          if (signed) {
            const paths = new Set<string>([
              ...((signed.keyPaths as string[] | undefined) ?? []),
              ...(signed.keyPath ? [signed.keyPath as string] : []),
              keyPath,
            ]);
            delete signed.keyPath;
            signed.keyPaths = [...paths];
          } else {
            policy.transports.docker[prefix] = [{ type: 'signedBy', keyType: 'GPGKeys', keyPath }];
          }
          await writePolicy(configDir, policy);
          process.stdout.write(`trusted ${fprs.join(', ')} for docker prefix ${prefix} (${policyPath(configDir)})\n`);
          return 0;
        },
      ),
    );

  trust
    .command('ls')
    .description('trusted keys per prefix')
    .option('-o, --output <format>', 'json')
    .addHelpText(
      'after',
      examples([
        ['the trusted keys per prefix and transport', 'berth trust ls'],
        ['as JSON', 'berth trust ls -o json'],
      ]),
    )
    .action(
      act(async (c: { output?: string }, cmd: Command) => {
        const { configDir } = layoutOf(opts(cmd));
        const entries = await listTrust(configDir);
        if (c.output === 'json') process.stdout.write(`${JSON.stringify({ trust: entries }, null, 2)}\n`);
        else if (entries.length === 0) process.stdout.write('No trust policy (every image is accepted).\n');
        else
          process.stdout.write(
            `${table([['TRANSPORT', 'PREFIX', 'REQUIREMENT', 'KEYS'], ...entries.map((e) => [e.transport, e.prefix, e.type, e.keys.join(',') || '-'])])}\n`,
          );
        return 0;
      }),
    );

  trust
    .command('rm')
    .description('stop trusting keys for a prefix')
    .argument('[fingerprint]', 'only this key (appc)')
    .option('--prefix <prefix>', 'image prefix')
    .option('--transport <transport>', 'docker or appc', 'docker')
    .option('--root', 'appc: a root key')
    .addHelpText(
      'after',
      examples([
        ['stop trusting every key for a prefix', 'berth trust rm --prefix registry.example.com/team'],
        ['appc: remove one key of a prefix', 'berth trust rm --transport appc --prefix example.com/app 0123ABCD...'],
      ]),
    )
    .action(
      act(async (fingerprint: string | undefined, c: { prefix?: string; transport: string; root?: boolean }, cmd: Command) => {
        const { configDir } = layoutOf(opts(cmd));
        if (c.prefix === undefined && !(c.root && c.transport === 'appc'))
          throw new BerthError('InvalidArgument', '--prefix is required (except for --transport appc --root)');
        const givenPrefix = c.prefix ?? '';
        if (c.transport === 'appc') {
          const dir = c.root
            ? join(configDir, 'trustedkeys', 'root.d')
            : join(configDir, 'trustedkeys', 'prefix.d', prefixPath(givenPrefix));
          if (fingerprint) {
            if (!/^[a-f0-9]{40,64}$/i.test(fingerprint)) throw new BerthError('InvalidArgument', `invalid fingerprint ${fingerprint}`);
            await rm(join(dir, fingerprint.toLowerCase()));
            await rmdir(dir).catch((err: unknown) => {
              // other keys still trusted there keep the directory
              if (!['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(errnoOf(err) ?? '')) throw err;
            });
          } else await rm(dir, { recursive: true });
          process.stdout.write(`removed appc trust ${c.root ? 'root' : givenPrefix}${fingerprint ? ` ${fingerprint}` : ''}\n`);
          return 0;
        }
        const policy = await readPolicy(configDir);
        const prefix = givenPrefix.replace(/\/+$/, '');
        if (!policy.transports?.docker?.[prefix]) throw new BerthError('NotFound', `no trust entry for docker prefix ${prefix}`);
        delete policy.transports.docker[prefix];
        await writePolicy(configDir, policy);
        process.stdout.write(`removed trust for docker prefix ${prefix}\n`);
        return 0;
      }),
    );
}
