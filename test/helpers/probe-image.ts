/**
 * The attacker probe (test/fixtures/runtime/probe.c) for confinement tests: compiled with
 * `gcc -static`, put into a busybox-static root filesystem at /probe, and, for e2e tests,
 * packed into an OCI image layout usable as `oci:<dir>:probe` (one reproducible layer, as
 * scripts/build-busybox-image.sh builds the example image, offline).
 */
import { createHash } from 'node:crypto';
import { chmod, copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { execa } from 'execa';
import { REPO } from './berth-cli.js';

export const PROBE_SOURCE = resolve(REPO, 'test/fixtures/runtime/probe.c');

/** Why the probe cannot be built here, or undefined when it can (gcc and busybox-static present). */
export async function probeUnavailable(): Promise<string | undefined> {
  const gcc = await execa('gcc', ['--version'], { reject: false });
  if (gcc.exitCode !== 0) return 'gcc is not installed (apt-get install gcc libc6-dev): the seccomp probe cannot be compiled';
  const bb = await execa('/bin/busybox', ['true'], { reject: false });
  if (bb.exitCode !== 0) return '/bin/busybox is missing (apt-get install busybox-static)';
  return undefined;
}

/** Compile the probe into `outDir/probe` (static, so it runs in any rootfs); returns its path. */
export async function compileProbe(outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const out = join(outDir, 'probe');
  const r = await execa('gcc', ['-static', '-O2', '-Wall', '-o', out, PROBE_SOURCE], { reject: false });
  if (r.exitCode !== 0) throw new Error(`compiling ${PROBE_SOURCE} failed: ${r.stderr}`);
  return out;
}

/** A root filesystem: busybox-static with every applet in /bin, a user database, /probe. */
export async function buildProbeRootfs(dir: string, probeBinary: string): Promise<void> {
  for (const d of ['bin', 'etc', 'root', 'proc', 'sys', 'dev', 'usr/bin', 'sbin', 'var']) await mkdir(join(dir, d), { recursive: true });
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await chmod(join(dir, 'tmp'), 0o1777);
  await copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  const list = await execa('/bin/busybox', ['--list']);
  for (const applet of list.stdout.split('\n')) {
    if (/^[A-Za-z0-9._[-]+$/.test(applet) && applet !== 'busybox') await symlink('busybox', join(dir, 'bin', applet));
  }
  await writeFile(join(dir, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(dir, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  await copyFile(probeBinary, join(dir, 'probe'));
  await chmod(join(dir, 'probe'), 0o755);
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

const GOARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  ia32: '386',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/**
 * Build an OCI image layout at `layoutDir` (tag `tag`, default "probe") holding busybox and
 * the probe at /probe; returns the image reference `oci:<layoutDir>:<tag>`. The probe binary
 * is compiled unless `probeBinary` is given. `layoutDir` must not exist yet.
 */
export async function buildProbeImage(layoutDir: string, opts: { tag?: string; probeBinary?: string } = {}): Promise<string> {
  const tag = opts.tag ?? 'probe';
  const work = await mkdtemp(`${layoutDir}.build-`);
  try {
    const probe = opts.probeBinary ?? (await compileProbe(join(work, 'bin')));
    const rootfs = join(work, 'rootfs');
    await buildProbeRootfs(rootfs, probe);
    const layerTar = join(work, 'layer.tar');
    await execa('tar', [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--format=gnu',
      '-C',
      rootfs,
      '-cf',
      layerTar,
      '.',
    ]);
    const diffId = `sha256:${sha256(await readFile(layerTar))}`;
    await execa('gzip', ['-n', layerTar]);
    const layer = await readFile(`${layerTar}.gz`);
    const layout = join(work, 'layout');
    await mkdir(join(layout, 'blobs/sha256'), { recursive: true });
    const put = async (buf: Buffer) => {
      const hex = sha256(buf);
      await writeFile(join(layout, 'blobs/sha256', hex), buf);
      return { digest: `sha256:${hex}`, size: buf.length };
    };
    const arch = GOARCH[process.arch] ?? process.arch;
    const layerDesc = await put(layer);
    const config = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        created: '1970-01-01T00:00:00Z',
        config: { Cmd: ['/probe', 'all'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/' },
        rootfs: { type: 'layers', diff_ids: [diffId] },
        history: [{ created: '1970-01-01T00:00:00Z', created_by: 'test/helpers/probe-image.ts' }],
      }),
    );
    const configDesc = await put(config);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...configDesc },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layerDesc }],
      }),
    );
    const manifestDesc = await put(manifest);
    await writeFile(
      join(layout, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...manifestDesc,
            platform: { architecture: arch, os: 'linux' },
            annotations: { 'org.opencontainers.image.ref.name': tag },
          },
        ],
      }),
    );
    await writeFile(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await rename(layout, layoutDir);
    return `oci:${layoutDir}:${tag}`;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Parse the probe's output into name → "ok" | "errno=…" (later lines win). */
export function parseProbeOutput(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\S+) (ok|errno=\S+|died signal=\d+|unknown)/.exec(line.trim());
    if (m) out.set(m[1]!, m[2]!);
  }
  return out;
}
