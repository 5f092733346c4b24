/**
 * `berth image pull|ls|inspect|rm|gc|verify`: the image store (DESIGN.md §1, §3).
 *
 * gc keeps, and removes everything else of:
 *   - every image a pod record refers to (apps' imageDigest, and the references of apps not
 *     pulled yet), whatever the pod's state: a running pod's lower tree is never touched;
 *   - every reference pulled within the grace period (default 1h);
 *   - any blob or rendered tree younger than the grace period (a pull or render of another
 *     process may be in flight).
 * Rendered trees are collected with their images. sha512 blobs (appc images) are left to
 * the appc store.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { systemClock } from '../../common/clock.js';
import type { Command } from 'commander';
import { BerthError, errnoOf, errorMessage, formatAge, parseDuration } from '../../common/index.js';
import type { Logger } from '../../common/index.js';
import { MAX_JSON_BODY, parseImageReference } from '../../image/index.js';
import type { BerthImageService, ImageRecord, PullProgress } from '../../image/index.js';
import { allRecords, listRecords } from '../../reconciler/index.js';
import { table } from '../format.js';
import { act, examples, opts } from '../common.js';
import { createLogger, layoutOf, type GlobalOptions } from '../globals.js';
import { imageServiceOf } from '../wire.js';

export function imageService(o: GlobalOptions, log: Logger): Promise<BerthImageService> {
  return imageServiceOf(layoutOf(o), log);
}

const short = (d: string | undefined) => (d ? d.replace(/^sha(256|512):/, '').slice(0, 12) : '-');

export function humanBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Progress of a pull: a redrawn block of per-blob lines on a terminal, plain lines otherwise. */
export function progressPrinter(out: NodeJS.WriteStream, tty: boolean): { onProgress: (p: PullProgress) => void; finish: () => void } {
  const rows = new Map<string, PullProgress>();
  let drawn = 0;
  const line = (p: PullProgress) => {
    const pct = p.size ? Math.floor((p.bytes / p.size) * 100) : 100;
    const word =
      p.state === 'cached' ? 'already stored' : p.state === 'done' ? 'done' : `${humanBytes(p.bytes)} / ${humanBytes(p.size)} ${pct}%`;
    return `${p.kind.padEnd(8)} ${short(p.digest)}  ${word}`;
  };
  const redraw = () => {
    if (drawn) out.write(`\x1b[${drawn}A`);
    for (const p of rows.values()) out.write(`\x1b[2K${line(p)}\n`);
    drawn = rows.size;
  };
  return {
    onProgress(p) {
      const prev = rows.get(p.digest);
      rows.set(p.digest, p);
      if (tty) redraw();
      else if (p.state !== 'downloading' || !prev) out.write(`${line(p)}\n`);
    },
    finish() {
      if (tty && rows.size) redraw();
    },
  };
}

/** Digests a manifest reaches in the store: itself, config, layers; indexes: their children present in the store. */
async function closure(svc: BerthImageService, digest: string, out: Set<string>, depth = 0): Promise<void> {
  if (out.has(digest) || depth > 4) return;
  out.add(digest);
  let doc: { config?: { digest?: string }; layers?: Array<{ digest?: string }>; manifests?: Array<{ digest?: string }> };
  try {
    doc = JSON.parse((await svc.content.readAll(digest, MAX_JSON_BODY)).toString('utf8')) as typeof doc;
  } catch {
    return; // not stored, not JSON (a layer, an ACI): nothing more reachable
  }
  if (doc.config?.digest) out.add(doc.config.digest);
  for (const l of doc.layers ?? []) if (l.digest) out.add(l.digest);
  for (const m of doc.manifests ?? []) if (m.digest && (await svc.content.has(m.digest))) await closure(svc, m.digest, out, depth + 1);
}

async function mtimeMs(p: string): Promise<number | undefined> {
  try {
    return (await stat(p)).mtimeMs;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}

export interface GcResult {
  blobs: string[];
  bytes: number;
  rendered: string[];
  references: string[];
}

/** Collect what no pod and no recent pull uses (see the module comment). */
export async function imageGc(
  o: GlobalOptions,
  svc: BerthImageService,
  graceMs: number,
  dryRun: boolean,
  now = systemClock.now(),
): Promise<GcResult> {
  const records = await allRecords(layoutOf(o), 'image gc');
  const refs = await svc.listImages();
  const podRefs = new Set<string>();
  const live = new Set<string>();
  for (const r of records) {
    for (const app of Object.values(r.apps)) {
      podRefs.add(app.image);
      if (app.imageDigest) await closure(svc, app.imageDigest, live);
    }
    // image volumes are the pod's images too
    for (const v of r.pod?.spec.volumes ?? []) if (v.image) podRefs.add(v.image.reference);
  }
  const keptRefs: ImageRecord[] = [];
  const droppedRefs: ImageRecord[] = [];
  for (const rec of refs) {
    const recent = now - Date.parse(rec.pulledAt) < graceMs;
    if (recent || podRefs.has(rec.reference)) keptRefs.push(rec);
    else droppedRefs.push(rec);
  }
  for (const rec of keptRefs) {
    await closure(svc, rec.manifestDigest, live);
    if (rec.sourceDigest) await closure(svc, rec.sourceDigest, live);
  }
  const result: GcResult = { blobs: [], bytes: 0, rendered: [], references: droppedRefs.map((r) => r.reference) };
  if (!dryRun) for (const r of droppedRefs) await svc.removeImage(r.reference);
  await svc.content.walk(async ({ digest: d, size, committedAt }) => {
    if (live.has(d) || !d.startsWith('sha256:') || now - committedAt < graceMs) return;
    result.blobs.push(d);
    result.bytes += size;
    if (!dryRun) await svc.content.delete(d);
  });
  for (const key of await svc.listRendered()) {
    if (key.length !== 64 || live.has(`sha256:${key}`)) continue;
    const m = await mtimeMs(dirname(svc.renderedPath(key)));
    if (m === undefined || now - m < graceMs) continue;
    result.rendered.push(key);
    if (!dryRun) await svc.removeRendered(key);
  }
  return result;
}

async function hashBlob(svc: BerthImageService, digest: string): Promise<{ digest: string; size: number }> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of (await svc.content.reader(digest)) as AsyncIterable<Buffer>) {
    h.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${h.digest('hex')}`, size };
}

/** Re-hash every blob of a recorded image and evaluate the trust policy again. */
export async function verifyImage(svc: BerthImageService, rec: ImageRecord): Promise<string[]> {
  const problems: string[] = [];
  const img = await svc.get(rec.reference);
  if (!img) return [`${rec.reference}: manifest or config missing or corrupt in the store (pull again)`];
  for (const l of img.layers) {
    if (!l.digest.startsWith('sha256:')) continue;
    try {
      const { digest, size } = await hashBlob(svc, l.digest);
      if (digest !== l.digest || size !== l.size)
        problems.push(`${rec.reference}: layer ${l.digest} is corrupt (got ${digest}, ${size} bytes)`);
    } catch (err) {
      problems.push(`${rec.reference}: layer ${l.digest}: ${errorMessage(err)}`);
    }
  }
  try {
    await svc.verify(img);
  } catch (err) {
    problems.push(errorMessage(err));
  }
  return problems;
}

export function register(program: Command): void {
  const image = program
    .command('image')
    .description('the image store: pull, ls, inspect, rm, gc, verify')
    .addHelpText(
      'after',
      examples([
        ['pull an image ahead of the pods that use it', 'berth image pull registry.example.com:5000/app:1.0'],
        ['what is in the store', 'berth image ls'],
        ['free space: remove what no pod uses', 'berth image gc'],
      ]),
    );

  image
    .command('pull')
    .description('pull an image into the store (and check the trust policy)')
    .argument('<reference>')
    .option('--policy <policy>', 'Always, IfNotPresent or Never (default: Kubernetes default of the reference)')
    .option('--render', 'also render the root filesystem')
    .option('-q, --quiet', 'print only the digest')
    .addHelpText(
      'after',
      examples([
        [
          'pull from a registry (registries.conf, auth.json and policy.json of --config-dir apply)',
          'berth image pull registry.example.com:5000/app:1.0',
        ],
        ['from a local OCI layout, and render its root filesystem', 'berth image pull --render oci:/opt/berth/images/busybox:latest'],
        ['only the digest, for a script', 'berth image pull -q docker-archive:/tmp/app.tar'],
      ]),
    )
    .action(
      act(async (reference: string, c: { policy?: string; render?: boolean; quiet?: boolean }, cmd: Command) => {
        const o = opts(cmd);
        const svc = await imageService(o, createLogger('warn', true));
        if (c.policy && !['Always', 'IfNotPresent', 'Never'].includes(c.policy))
          throw new BerthError('InvalidArgument', `--policy must be Always, IfNotPresent or Never`);
        parseImageReference(reference);
        const tty = Boolean(process.stderr.isTTY);
        const progress = c.quiet ? undefined : progressPrinter(process.stderr, tty);
        const t0 = systemClock.now();
        const img = await svc.verify(await svc.pull(reference, { pullPolicy: c.policy as never, onProgress: progress?.onProgress }));
        progress?.finish();
        let rootfs: string | undefined;
        if (c.render) rootfs = (await svc.render(img)).rootfs;
        if (c.quiet) process.stdout.write(`${img.manifestDigest}\n`);
        else {
          const size = img.layers.reduce((a, l) => a + l.size, 0);
          process.stdout.write(
            `${reference}: ${img.manifestDigest} (${img.layers.length} layers, ${humanBytes(size)}, ${systemClock.now() - t0} ms)${rootfs ? `\nrendered: ${rootfs}` : ''}\n`,
          );
        }
        return 0;
      }),
    );

  image
    .command('ls')
    .description('references in the store')
    .option('-o, --output <format>', 'json')
    .addHelpText(
      'after',
      examples([
        ['every reference in the store with its digest', 'berth image ls'],
        ['as JSON', 'berth image ls -o json'],
      ]),
    )
    .action(
      act(async (c: { output?: string }, cmd: Command) => {
        const o = opts(cmd);
        const svc = await imageService(o, createLogger('warn', true));
        const recs = await svc.listImages();
        const rendered = new Set(await svc.listRendered());
        const rows = [];
        for (const r of recs) {
          const img = await svc.get(r.reference);
          const size = img ? img.layers.reduce((a, l) => a + l.size, 0) : undefined;
          rows.push({
            ...r,
            size: size ?? null,
            complete: Boolean(img),
            rendered: rendered.has(r.manifestDigest.replace(/^sha(256|512):/, '')),
          });
        }
        if (c.output === 'json') process.stdout.write(`${JSON.stringify({ images: rows }, null, 2)}\n`);
        else if (rows.length === 0) process.stdout.write('No images.\n');
        else {
          const now = systemClock.now();
          process.stdout.write(
            `${table([
              ['REFERENCE', 'DIGEST', 'SIZE', 'PULLED', 'RENDERED'],
              ...rows.map((r) => [
                r.reference,
                short(r.manifestDigest),
                r.size === null ? 'incomplete' : humanBytes(r.size),
                `${formatAge(now - Date.parse(r.pulledAt))} ago`,
                r.rendered ? 'yes' : 'no',
              ]),
            ])}\n`,
          );
        }
        return 0;
      }),
    );

  image
    .command('inspect')
    .description('manifest, config and layers of a stored image (JSON)')
    .argument('<reference>')
    .addHelpText(
      'after',
      examples([
        ['manifest, config and layers of a stored image', 'berth image inspect oci:/opt/berth/images/busybox:latest | jq .config'],
      ]),
    )
    .action(
      act(async (reference: string, _c: unknown, cmd: Command) => {
        const o = opts(cmd);
        const svc = await imageService(o, createLogger('warn', true));
        const rec = (await svc.listImages()).find((r) => r.reference === reference);
        if (!rec) throw new BerthError('NotFound', `image ${reference} is not in the store (berth image pull ${reference})`);
        const img = await svc.get(reference);
        if (!img) throw new BerthError('NotFound', `image ${reference}: blobs missing from the store (pull again)`);
        const key = img.manifestDigest.replace(/^sha(256|512):/, '');
        const rendered = (await svc.listRendered()).includes(key) ? svc.renderedPath(key) : null;
        process.stdout.write(
          `${JSON.stringify({ ...rec, configDigest: img.configDigest, layers: img.layers, config: img.config, rootfs: rendered }, null, 2)}\n`,
        );
        return 0;
      }),
    );

  image
    .command('rm')
    .description('forget references (blobs go at the next gc)')
    .argument('<references...>')
    .option('--force', 'also when a pod record still uses it')
    .addHelpText(
      'after',
      examples([
        ['forget a reference; its blobs go at the next gc', 'berth image rm registry.example.com:5000/app:1.0'],
        ['also when a pod record still names it', 'berth image rm --force oci:/opt/images/old:1'],
      ]),
    )
    .action(
      act(async (references: string[], c: { force?: boolean }, cmd: Command) => {
        const o = opts(cmd);
        const svc = await imageService(o, createLogger('warn', true));
        const known = new Set((await svc.listImages()).map((r) => r.reference));
        const records = c.force ? await listRecords(layoutOf(o)) : await allRecords(layoutOf(o), 'image rm');
        const used = new Set(records.flatMap((r) => Object.values(r.apps).map((a) => a.image)));
        let code = 0;
        for (const ref of references) {
          if (!known.has(ref)) {
            process.stderr.write(`berth: image ${ref} is not in the store\n`);
            code = 1;
            continue;
          }
          if (used.has(ref) && !c.force) {
            process.stderr.write(`berth: image ${ref} is used by a pod (remove the pod, or --force)\n`);
            code = 1;
            continue;
          }
          await svc.removeImage(ref);
          process.stdout.write(`removed ${ref}\n`);
        }
        return code;
      }),
    );

  image
    .command('gc')
    .description('remove blobs and rendered trees no pod and no recent pull uses')
    .option('--grace <duration>', 'keep what was pulled or written within this time', '1h')
    .option('--dry-run', 'only print what would be removed')
    .addHelpText(
      'after',
      examples([
        ['what would be removed', 'berth image gc --dry-run'],
        ['remove what no pod uses and was not pulled in the last 10 minutes', 'berth image gc --grace 10m'],
      ]),
    )
    .action(
      act(async (c: { grace: string; dryRun?: boolean }, cmd: Command) => {
        const o = opts(cmd);
        const svc = await imageService(o, createLogger('warn', true));
        const r = await imageGc(o, svc, parseDuration(c.grace), Boolean(c.dryRun));
        const verb = c.dryRun ? 'would remove' : 'removed';
        for (const ref of r.references) process.stdout.write(`${verb} reference ${ref}\n`);
        for (const k of r.rendered) process.stdout.write(`${verb} rendered tree ${k}\n`);
        process.stdout.write(
          `${verb} ${r.blobs.length} blob(s), ${humanBytes(r.bytes)}; ${r.rendered.length} rendered tree(s); ${r.references.length} reference(s)\n`,
        );
        return 0;
      }),
    );

  image
    .command('verify')
    .description('re-hash stored blobs and check the trust policy')
    .argument('[references...]', 'default: every stored reference')
    .addHelpText(
      'after',
      examples([
        ['re-hash every stored blob and check the trust policy again', 'berth image verify'],
        ['one image', 'berth image verify registry.example.com:5000/app:1.0'],
      ]),
    )
    .action(
      act(async (references: string[], _c: unknown, cmd: Command) => {
        const o = opts(cmd);
        const svc = await imageService(o, createLogger('warn', true));
        const recs = await svc.listImages();
        const chosen = references.length ? references.map((ref) => recs.find((r) => r.reference === ref) ?? ref) : recs;
        let bad = 0;
        for (const rec of chosen) {
          if (typeof rec === 'string') {
            process.stdout.write(`${rec}: not in the store\n`);
            bad++;
            continue;
          }
          const problems = await verifyImage(svc, rec);
          if (problems.length) {
            bad++;
            for (const p of problems) process.stdout.write(`FAIL ${p}\n`);
          } else process.stdout.write(`ok   ${rec.reference} ${rec.manifestDigest}\n`);
        }
        return bad ? 1 : 0;
      }),
    );
}
