/**
 * An ACI's dependencies, resolved and flattened in appc's order: by image ID or name + labels
 * in the index first, then (when pulling) by discovery.
 */
import { BerthError, codeOf } from '../../common/index.js';
import type { AppcIndex, AppcRecord } from './index-store.js';
import { labelMap, labelsMatch, type Dependency, type ImageManifest } from './manifest.js';

const MAX_DEPENDENCIES = 256;

/**
 * The flattened dependency list, upper first, as appc's `createDepList` builds it: each
 * image's dependencies are inserted right after it, one by one, so they end up in reverse
 * list order; rendering applies the list from the end.
 */
export async function flattenDependencies<T extends { manifest: ImageManifest; imageId: string }>(
  top: T,
  resolve: (dep: Dependency, parent: T) => Promise<T>,
  max = MAX_DEPENDENCIES,
): Promise<Array<{ image: T; level: number }>> {
  const list: Array<{ image: T; level: number }> = [{ image: top, level: 0 }];
  for (let i = 0; i < list.length; i++) {
    const el = list[i]!;
    for (const d of el.image.manifest.dependencies ?? []) {
      if (list.length >= max)
        throw new BerthError('InvalidArgument', `${top.manifest.name}: more than ${max} dependencies (or a dependency cycle)`);
      list.splice(i + 1, 0, { image: await resolve(d, el.image), level: el.level + 1 });
    }
  }
  return list;
}

/** Find a dependency that is not in the index (discovery + import), honouring its `size`. */
export type Discover = (name: string, labels: Record<string, string>, size: number | undefined) => Promise<AppcRecord>;

/** A dependency: by image ID, or by name + labels in the index, then by `discover` when given; identity and size checked. */
export async function resolveDependency(
  index: AppcIndex,
  d: Dependency,
  parent: AppcRecord,
  platform: { os: string; arch: string },
  discover?: Discover,
): Promise<AppcRecord> {
  const labels = labelMap(d.labels);
  const what = `dependency ${d.imageName}${d.imageID ? ` (${d.imageID})` : ''} of ${parent.name}`;
  let rec = d.imageID ? await index.byId(d.imageID) : await index.find(d.imageName, labels, platform);
  if (!rec) {
    if (!discover) throw new BerthError('NotFound', `${what} is not in the store`);
    rec = await discover(d.imageName, labels, d.size).catch((err: unknown) => {
      throw new BerthError(codeOf(err) ?? 'NotFound', `${what}: not in the store, and discovery failed: ${(err as Error).message}`, {
        cause: err,
      });
    });
  }
  if (rec.name !== d.imageName) throw new BerthError('FailedPrecondition', `${what}: image ${rec.imageId} is named ${rec.name}`);
  if (!labelsMatch(labels, rec.labels))
    throw new BerthError('FailedPrecondition', `${what}: labels ${JSON.stringify(rec.labels)} do not match ${JSON.stringify(labels)}`);
  if (d.imageID && !rec.imageId.startsWith(d.imageID)) throw new BerthError('FailedPrecondition', `${what}: found ${rec.imageId}`);
  if (d.size !== undefined && rec.size !== d.size)
    throw new BerthError('FailedPrecondition', `${what}: size ${rec.size} bytes, the manifest says ${d.size}`);
  return rec;
}
