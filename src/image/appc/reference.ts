/**
 * appc image references (DESIGN.md §2):
 *   aci:/abs/path/x.aci                  an ACI file (signature: x.aci.asc beside it)
 *   aci+https://host/path/x.aci          an ACI over HTTPS (aci+http:// only for insecure hosts)
 *   appc:name[:version][,label=value…]   an appc name found by meta discovery
 *
 * The `appc:` syntax is appc's `discovery/parse.go`: a colon may appear once, right after
 * the name, and stands for `version`; `name` itself cannot be given as a label.
 */
import { isAbsolute } from 'node:path';
import { BerthError } from '../../common/index.js';
import type { AppcReference } from '../types.js';
import { AC_IDENTIFIER } from './manifest.js';

export type { AppcReference };

function invalid(raw: string, why: string): BerthError {
  return new BerthError('InvalidArgument', `invalid image reference "${raw}": ${why}`);
}

/** Parse appc's user syntax `name[:version][,k=v…]`. */
export function parseAppString(raw: string, s: string): { name: string; labels: Record<string, string> } {
  const comma = s.indexOf(',');
  const colon = s.indexOf(':');
  if (colon > comma && comma > -1) throw invalid(raw, 'a colon may appear only right after the app name');
  if ((s.match(/:/g) ?? []).length > 1) throw invalid(raw, 'a colon may appear at most once');
  const parts = s.split(',');
  let head = parts.shift() ?? '';
  const labels: Record<string, string> = {};
  if (colon >= 0) {
    const i = head.indexOf(':');
    labels.version = head.slice(i + 1);
    head = head.slice(0, i);
  }
  if (!AC_IDENTIFIER.test(head)) throw invalid(raw, `"${head}" is not a valid appc name`);
  for (const p of parts) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw invalid(raw, `label "${p}" is not name=value`);
    const k = p.slice(0, eq);
    const v = decodeURIComponent(p.slice(eq + 1));
    if (k === 'name') throw invalid(raw, 'label "name" is reserved');
    if (!AC_IDENTIFIER.test(k)) throw invalid(raw, `invalid label name "${k}"`);
    if (k in labels) throw invalid(raw, `label ${k} given twice`);
    labels[k] = v;
  }
  if (labels.version === '') throw invalid(raw, 'empty version');
  return { name: head, labels };
}

/** An appc reference, or undefined when `s` uses another transport. */
export function parseAppcReference(s: string): AppcReference | undefined {
  if (s.startsWith('aci:')) {
    const path = s.slice('aci:'.length);
    if (!isAbsolute(path)) throw invalid(s, `path "${path}" must be absolute`);
    return { transport: 'aci', path, raw: s };
  }
  if (s.startsWith('aci+https://') || s.startsWith('aci+http://')) {
    const url = s.slice('aci+'.length);
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      throw invalid(s, 'not a URL');
    }
    if (u.username || u.password) throw invalid(s, 'credentials in the URL are not accepted');
    return { transport: 'aci-url', url: u.toString(), raw: s };
  }
  if (s.startsWith('appc:')) {
    const { name, labels } = parseAppString(s, s.slice('appc:'.length));
    return { transport: 'appc', name, labels, raw: s };
  }
  return undefined;
}
