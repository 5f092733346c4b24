/**
 * The appc ImageManifest (appc/spec v0.8.11 `spec/aci.md`, `schema/image.go`,
 * `schema/types/*`), validated with zod. Unknown keys are ignored, as Go's decoder does; the
 * spec's example spells `supplementaryGids` while the Go tag is `supplementaryGIDs`, so
 * both are accepted and merged (SPECS.md §5 "TypeScript pitfall").
 */
import { posix } from 'node:path';
import { z } from 'zod';
import { BerthError, errorMessage } from '../../common/index.js';

/** ACIdentifier: image names, label names (`types/acidentifier.go`). */
export const AC_IDENTIFIER = /^[a-z0-9]+([-._~/][a-z0-9]+)*$/;
/** ACName: mount point, port, isolator-free names (`types/acname.go`). */
export const AC_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const IMAGE_ID = /^sha512-[a-f0-9]{1,128}$/;

/** `types.ValidOSArch`: the accepted os → arch pairs. */
export const VALID_OS_ARCH: Record<string, string[]> = {
  linux: ['amd64', 'i386', 'aarch64', 'aarch64_be', 'armv6l', 'armv7l', 'armv7b', 'ppc64', 'ppc64le', 's390x'],
  freebsd: ['amd64', 'i386', 'arm'],
  darwin: ['x86_64', 'i386'],
};

const Label = z.object({ name: z.string().regex(AC_IDENTIFIER, 'label name must be an ACIdentifier'), value: z.string() });

/** A list of labels: names unique, never "name", arch only with a valid os (`types/labels.go`). */
export const Labels = z.array(Label).superRefine((labels, ctx) => {
  const seen = new Set<string>();
  for (const [i, l] of labels.entries()) {
    if (l.name === 'name') ctx.addIssue({ code: 'custom', path: [i, 'name'], message: 'invalid label name: "name"' });
    if (seen.has(l.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate label name "${l.name}"` });
    seen.add(l.name);
  }
  const os = labels.find((l) => l.name === 'os')?.value;
  const arch = labels.find((l) => l.name === 'arch')?.value;
  if (os !== undefined) {
    const archs = VALID_OS_ARCH[os];
    if (!archs) ctx.addIssue({ code: 'custom', message: `bad os "${os}"` });
    else if (arch !== undefined && !archs.includes(arch)) ctx.addIssue({ code: 'custom', message: `bad arch "${arch}" for ${os}` });
  }
});
export type Labels = z.infer<typeof Labels>;

const NameValue = z.object({ name: z.string().min(1), value: z.string() });
const absPath = (what: string) => z.string().refine((p) => posix.isAbsolute(p), `${what} must be an absolute path`);

export const Isolator = z.object({ name: z.string().min(1), value: z.unknown() });
export type Isolator = z.infer<typeof Isolator>;

export const MountPoint = z.object({
  name: z.string().regex(AC_NAME, 'mount point name must be an ACName'),
  path: absPath('mount point path'),
  readOnly: z.boolean().optional(),
});
export type MountPoint = z.infer<typeof MountPoint>;

const Port = z.object({
  name: z.string().regex(AC_NAME, 'port name must be an ACName'),
  protocol: z.string().min(1),
  port: z.number().int().min(0).max(65535),
  count: z.number().int().min(0).optional(),
  socketActivated: z.boolean().optional(),
});

const EventHandler = z.object({ name: z.enum(['pre-start', 'post-stop']), exec: z.array(z.string()).min(1) });

const AppRaw = z.object({
  exec: z.array(z.string()).optional(),
  eventHandlers: z.array(EventHandler).optional(),
  user: z.string().min(1, 'user is required'),
  group: z.string().min(1, 'group is required'),
  supplementaryGIDs: z.array(z.number().int().min(0)).optional(),
  supplementaryGids: z.array(z.number().int().min(0)).optional(),
  workingDirectory: z
    .string()
    .refine((p) => p === '' || posix.isAbsolute(p), 'workingDirectory must be an absolute path')
    .optional(),
  environment: z.array(NameValue.extend({ name: z.string().regex(ENV_NAME, 'invalid environment variable name') })).optional(),
  mountPoints: z.array(MountPoint).optional(),
  ports: z.array(Port).optional(),
  isolators: z.array(Isolator).optional(),
  userAnnotations: z.record(z.string()).optional(),
  userLabels: z.record(z.string()).optional(),
});

/** `app` with the two GID spellings merged into `supplementaryGIDs`. */
export const App = AppRaw.transform(({ supplementaryGids, supplementaryGIDs, ...rest }) => {
  const gids = [...new Set([...(supplementaryGIDs ?? []), ...(supplementaryGids ?? [])])];
  return { ...rest, ...(gids.length ? { supplementaryGIDs: gids } : {}) };
});
export type App = z.infer<typeof App>;

export const Dependency = z.object({
  imageName: z.string().regex(AC_IDENTIFIER, 'imageName must be an ACIdentifier'),
  imageID: z.string().regex(IMAGE_ID, 'imageID must be sha512-<hex>').optional(),
  labels: Labels.optional(),
  size: z.number().int().min(0).optional(),
});
export type Dependency = z.infer<typeof Dependency>;

export const ImageManifest = z.object({
  acKind: z.literal('ImageManifest'),
  acVersion: z.string().regex(SEMVER, 'acVersion must be a semantic version'),
  name: z.string().regex(AC_IDENTIFIER, 'name must match ^[a-z0-9]+([-._~/][a-z0-9]+)*$'),
  labels: Labels.optional(),
  app: App.nullable().optional(),
  annotations: z.array(NameValue).optional(),
  dependencies: z.array(Dependency).optional(),
  pathWhitelist: z.array(absPath('pathWhitelist entry')).optional(),
});
export type ImageManifest = z.infer<typeof ImageManifest>;

/** Parse and validate manifest JSON; InvalidArgument naming every problem. */
export function parseImageManifest(text: string, where = 'manifest'): ImageManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new BerthError('InvalidArgument', `${where}: not JSON: ${errorMessage(err)}`, { cause: err });
  }
  const r = ImageManifest.safeParse(json);
  if (!r.success) {
    const why = r.error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
    throw new BerthError('InvalidArgument', `${where}: invalid appc image manifest: ${why}`);
  }
  return r.data;
}

/** Labels as a map. */
export function labelMap(labels: Labels | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((l) => [l.name, l.value]));
}

/**
 * Label matching (discovery, dependencies): every requested label must be present with the
 * same value; labels that were not requested may have any value.
 */
export function labelsMatch(requested: Record<string, string>, actual: Record<string, string>): boolean {
  return Object.entries(requested).every(([k, v]) => actual[k] === v);
}
