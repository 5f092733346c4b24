/**
 * containers-registries.d(5): `<config-dir>/registries.d/*.yaml` say where signatures of a
 * registry namespace are stored ("lookaside"):
 *   default-docker: {lookaside: file:///var/lib/containers/sigstore}
 *   docker:
 *     registry.example.com/ns: {lookaside: https://sigs.example.com/sigstore}
 * `sigstore` is the older name of `lookaside` and is read too. The most specific namespace
 * wins; `default-docker` applies to the rest. A scope defined twice is an error.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { BerthError, errorMessage, errnoOf } from '../../common/index.js';

export interface RegistriesD {
  defaultDocker?: string;
  docker: Record<string, string | undefined>;
}

function lookasideOf(v: unknown, file: string, where: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'object') throw new BerthError('InvalidArgument', `${file}: ${where} must be a mapping`);
  const o = v as Record<string, unknown>;
  const l = o.lookaside ?? o.sigstore;
  if (l === undefined) return undefined;
  if (typeof l !== 'string' || l === '') throw new BerthError('InvalidArgument', `${file}: ${where}.lookaside must be a URL`);
  return l;
}

export function parseRegistriesD(texts: Array<{ file: string; text: string }>): RegistriesD {
  const out: RegistriesD = { docker: {} };
  let defaultFrom: string | undefined;
  for (const { file, text } of texts) {
    let doc: Record<string, unknown>;
    try {
      doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
    } catch (err) {
      throw new BerthError('InvalidArgument', `${file}: ${errorMessage(err).split('\n')[0]}`, { cause: err });
    }
    if (doc['default-docker'] !== undefined) {
      if (defaultFrom) throw new BerthError('InvalidArgument', `${file}: default-docker is also defined in ${defaultFrom}`);
      defaultFrom = file;
      out.defaultDocker = lookasideOf(doc['default-docker'], file, 'default-docker');
    }
    const docker = doc.docker as Record<string, unknown> | undefined;
    if (docker !== undefined && (docker === null || typeof docker !== 'object'))
      throw new BerthError('InvalidArgument', `${file}: docker must be a mapping`);
    for (const [scope, v] of Object.entries(docker ?? {})) {
      if (scope in out.docker) throw new BerthError('InvalidArgument', `${file}: docker scope ${scope} is defined twice`);
      out.docker[scope] = lookasideOf(v, file, `docker["${scope}"]`);
    }
  }
  return out;
}

export async function loadRegistriesD(configDir: string): Promise<RegistriesD> {
  const dir = join(configDir, 'registries.d');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.endsWith('.yaml') || n.endsWith('.yml')).sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return { docker: {} };
    throw err;
  }
  return parseRegistriesD(await Promise.all(names.map(async (n) => ({ file: join(dir, n), text: await readFile(join(dir, n), 'utf8') }))));
}

/** The lookaside base URL for `host/repository`, or undefined. */
export function lookasideFor(conf: RegistriesD, name: string): string | undefined {
  const parts = name.split('/');
  for (let n = parts.length; n >= 1; n--) {
    const scope = parts.slice(0, n).join('/');
    if (scope in conf.docker) return conf.docker[scope];
  }
  return conf.defaultDocker;
}

/**
 * `<base>/<repository path>@<alg>=<hex>/signature-<n>` (n from 1), as containers/image lays
 * them out (and skopeo writes them): the repository path without the registry host.
 */
export function signatureUrl(base: string, name: string, manifestDigest: string, n: number): string {
  const [alg, hex] = manifestDigest.split(':');
  const i = name.indexOf('/');
  const path = i < 0 ? name : name.slice(i + 1);
  return `${base.replace(/\/+$/, '')}/${path}@${alg}=${hex}/signature-${n}`;
}
