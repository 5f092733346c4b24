/**
 * Image references, containers-transports(5) syntax (DESIGN.md §2):
 *   oci:/abs/layout[:tag]            an OCI image layout directory (IMG-17)
 *   oci-archive:/abs/file.tar[:tag]  a tar of such a layout
 *   docker-archive:/abs/file.tar[:ref|:@N]  `docker save` / skopeo docker-archive output
 *   [docker://]name[:tag][@digest]   a registry reference, normalised per DST-01/02
 *
 * For `oci:` and `oci-archive:` the path ends at the first ':' after the transport, as
 * containers-transports(5) defines it, so a tag may itself contain ':' and '/'
 * (`oci-archive:/x.tar:localhost/busybox:latest`, which is what skopeo writes).
 */
import { isAbsolute } from 'node:path';
import { BerthError, errorMessage } from '../common/index.js';
import type { ImageReference } from './types.js';
import { parseDigest } from './digest.js';
import { parseAppcReference } from './appc/reference.js';

const LAYOUT_TAG = /^[A-Za-z0-9._:@/+-]+$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?$/;
const MAX_NAME = 255;

export const DEFAULT_REGISTRY = 'docker.io';
export const DEFAULT_TAG = 'latest';

function invalid(raw: string, why: string): BerthError {
  return new BerthError('InvalidArgument', `invalid image reference "${raw}": ${why}`);
}

function parseLayoutRef(raw: string, transport: 'oci' | 'oci-archive' | 'docker-archive', rest: string): ImageReference {
  const i = rest.indexOf(':');
  const path = i < 0 ? rest : rest.slice(0, i);
  const tag = i < 0 ? undefined : rest.slice(i + 1);
  if (path === '') throw invalid(raw, 'missing path');
  if (!isAbsolute(path)) throw invalid(raw, `path "${path}" must be absolute`);
  if (tag !== undefined && !LAYOUT_TAG.test(tag)) throw invalid(raw, `invalid tag "${tag}"`);
  return tag === undefined ? { transport, path, raw } : { transport, path, tag, raw };
}

/** A registry reference (DST-01/02): Docker Hub normalisation, default tag, digest validation. */
export function parseDockerReference(raw: string): Extract<ImageReference, { transport: 'docker' }> {
  let s = raw.startsWith('docker://') ? raw.slice('docker://'.length) : raw;
  if (s === '') throw invalid(raw, 'empty');
  if (/^[a-f0-9]{64}$/.test(s)) throw invalid(raw, 'a bare 64-hex string is an image id, not a reference');
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) {
    digest = s.slice(at + 1);
    s = s.slice(0, at);
    try {
      parseDigest(digest);
    } catch (err) {
      throw invalid(raw, errorMessage(err));
    }
  }
  let tag: string | undefined;
  const colon = s.lastIndexOf(':');
  if (colon > s.lastIndexOf('/')) {
    tag = s.slice(colon + 1);
    s = s.slice(0, colon);
    if (!TAG.test(tag)) throw invalid(raw, `invalid tag "${tag}"`);
  }
  if (s === '') throw invalid(raw, 'missing name');
  const parts = s.split('/');
  let registry = DEFAULT_REGISTRY;
  const first = parts[0] ?? '';
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase())) {
    registry = first;
    parts.shift();
    if (!DOMAIN.test(registry)) throw invalid(raw, `invalid registry "${registry}"`);
  }
  if (registry === 'index.docker.io') registry = DEFAULT_REGISTRY;
  for (const p of parts) {
    if (p !== p.toLowerCase()) throw invalid(raw, 'repository name must be lowercase');
    if (!PATH_COMPONENT.test(p)) throw invalid(raw, `invalid path component "${p}"`);
  }
  if (registry === DEFAULT_REGISTRY && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (`${registry}/${repository}`.length > MAX_NAME) throw invalid(raw, `name longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  const ref: Extract<ImageReference, { transport: 'docker' }> = { transport: 'docker', raw, registry, repository };
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  return ref;
}

/** Parse any image reference berth accepts; InvalidArgument on malformed input, Unimplemented for later transports. */
export function parseImageReference(s: string): ImageReference {
  if (typeof s !== 'string' || s.trim() === '') throw new BerthError('InvalidArgument', 'empty image reference');
  if (s !== s.trim()) throw invalid(s, 'leading or trailing whitespace');
  if (s.startsWith('oci:')) return parseLayoutRef(s, 'oci', s.slice('oci:'.length));
  if (s.startsWith('oci-archive:')) return parseLayoutRef(s, 'oci-archive', s.slice('oci-archive:'.length));
  // docker-archive:path[:docker-reference|:@index] (containers-transports(5))
  if (s.startsWith('docker-archive:')) return parseLayoutRef(s, 'docker-archive', s.slice('docker-archive:'.length));
  const appc = parseAppcReference(s);
  if (appc) return appc;
  for (const t of ['dir:', 'containers-storage:', 'docker-daemon:']) {
    if (s.startsWith(t)) throw new BerthError('Unimplemented', `image transport "${t.slice(0, -1)}" is not implemented yet (${s})`);
  }
  return parseDockerReference(s);
}

/** The canonical text of a reference (registry refs fully qualified). */
export function formatImageReference(ref: ImageReference): string {
  if (ref.transport === 'aci' || ref.transport === 'aci-url' || ref.transport === 'appc') return ref.raw;
  if (ref.transport !== 'docker') return `${ref.transport}:${ref.path}${ref.tag === undefined ? '' : `:${ref.tag}`}`;
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest}`}`;
}
