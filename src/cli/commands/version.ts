/**
 * `berth version [-o json]`: berth's version and commit, the Node.js it runs on, and the
 * versions of the host components it drives as found now (OCI runtimes, conmon, the CNI
 * plugin directories). A component that is missing is reported as such, never an error:
 * this is what an operator pastes into a bug report.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { BerthError } from '../../common/errors.js';
import { act, examples, opts } from '../common.js';

/** Set by the bundler (scripts/bundle.mjs) from package.json and `git rev-parse`. */
declare const __BERTH_VERSION__: string | undefined;
declare const __BERTH_COMMIT__: string | undefined;

export const VERSION = typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.1.0';
const COMMIT = typeof __BERTH_COMMIT__ === 'string' ? __BERTH_COMMIT__ : 'unknown';

export interface ComponentVersion {
  name: string;
  /** the first line of `<tool> --version`, or null when the tool is not found */
  version: string | null;
  path?: string;
}

export interface PluginDirVersion {
  dir: string;
  plugins: number;
  /** CNI spec versions the plugins say they support (`CNI_COMMAND=VERSION`), or null */
  cniVersions: string[] | null;
  /** the Debian package that owns the directory's plugins, with its version, when dpkg knows */
  package?: string;
}

export interface VersionReport {
  berth: { version: string; commit: string };
  node: string;
  runtimes: ComponentVersion[];
  conmon: ComponentVersion;
  cniPluginDirs: PluginDirVersion[];
}

async function firstLine(cmd: string, args: string[], env?: Record<string, string>): Promise<string | null> {
  try {
    const { execa } = await import('execa');
    const r = await execa(cmd, args, { reject: false, timeout: 5000, ...(env ? { env, extendEnv: false } : {}) });
    const out = `${String(r.stdout)}\n${String(r.stderr)}`.trim();
    return r.failed && !out ? null : (out.split('\n')[0] ?? null);
  } catch {
    return null; // not installed or not runnable: shown as no version
  }
}

async function tool(name: string): Promise<ComponentVersion> {
  const line = await firstLine(name, ['--version']);
  return { name, version: line && !/ENOENT|not found/.test(line) ? line : null };
}

async function pluginDir(dir: string): Promise<PluginDirVersion> {
  const names = await readdir(dir).catch(() => [] as string[]); // missing or unreadable: shown as holding no plugins
  const out: PluginDirVersion = { dir, plugins: names.length, cniVersions: null };
  if (!names.includes('loopback')) return out;
  const { execa } = await import('execa');
  const res = await execa(join(dir, 'loopback'), [], {
    reject: false,
    timeout: 5000,
    input: '{}',
    env: { CNI_COMMAND: 'VERSION' },
    extendEnv: false,
  });
  try {
    const v = JSON.parse(String(res.stdout)) as { supportedVersions?: string[] };
    out.cniVersions = v.supportedVersions ?? null;
  } catch {
    /* not a CNI plugin answer: left null */
  }
  const owner = await firstLine('dpkg-query', ['-S', join(dir, 'loopback')]);
  const pkg = owner && !owner.includes('no path found') ? owner.split(':')[0] : undefined;
  if (pkg) out.package = `${pkg} ${(await firstLine('dpkg-query', ['-W', '-f', '${Version}', pkg])) ?? ''}`.trim();
  return out;
}

export async function versionReport(cniPluginDirs: string[]): Promise<VersionReport> {
  const [crun, runc, conmon, dirs] = await Promise.all([
    tool('crun'),
    tool('runc'),
    tool('conmon'),
    Promise.all(cniPluginDirs.map(pluginDir)),
  ]);
  return { berth: { version: VERSION, commit: COMMIT }, node: process.version, runtimes: [crun, runc], conmon, cniPluginDirs: dirs };
}

export function formatVersion(r: VersionReport): string {
  const missing = 'not found';
  const lines = [
    `berth ${r.berth.version} (commit ${r.berth.commit})`,
    `node ${r.node}`,
    ...r.runtimes.map((t) => `${t.name}: ${t.version ?? missing}`),
    `conmon: ${r.conmon.version ?? missing}`,
    ...r.cniPluginDirs.map(
      (d) =>
        `cni plugins ${d.dir}: ${d.plugins ? `${d.plugins} plugins${d.cniVersions ? `, CNI ${d.cniVersions.join(' ')}` : ''}${d.package ? ` (${d.package})` : ''}` : missing}`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('version')
    .description('versions of berth and of the runtimes, conmon and CNI plugins it finds')
    .option('-o, --output <format>', 'json for one JSON document')
    .addHelpText(
      'after',
      examples([
        ['berth, node, the OCI runtimes, conmon and the CNI plugins found', 'berth version'],
        ['the same as JSON (version, commit, node, runtimes, conmon, cni)', 'berth version -o json | jq .runtimes'],
      ]),
    )
    .action(
      act(async (cmdOpts: { output?: string }, cmd: Command) => {
        if (cmdOpts.output !== undefined && cmdOpts.output !== 'json')
          throw new BerthError('InvalidArgument', `-o ${cmdOpts.output}: the only output format of version is json`);
        const report = await versionReport(opts(cmd).cniPluginDir);
        process.stdout.write(cmdOpts.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatVersion(report));
        return 0;
      }),
    );
}
