/**
 * Kubernetes label selectors for `status -l` (k8s.io/apimachinery labels.Parse): requirements
 * joined by `,` (AND): `key=value`, `key==value`, `key!=value`, `key in (a,b)`,
 * `key notin (a)`, `key` (exists), `!key` (does not exist). Keys are `[prefix/]name`, values
 * are label values (empty allowed). A selector that does not parse is an InvalidArgument.
 */
import { BerthError } from '../common/errors.js';

export type Requirement = { key: string; op: 'in' | 'notin'; values: string[] } | { key: string; op: 'exists' | '!exists' };

export type Selector = Requirement[];

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

const bad = (text: string, why: string) => new BerthError('InvalidArgument', `invalid label selector "${text}": ${why}`);

function checkKey(text: string, key: string): string {
  const slash = key.indexOf('/');
  const [prefix, name] = slash >= 0 ? [key.slice(0, slash), key.slice(slash + 1)] : [undefined, key];
  if (!NAME.test(name)) throw bad(text, `"${key}" is not a label key (name: alphanumerics, '-', '_', '.', at most 63)`);
  if (prefix !== undefined && (prefix.length > 253 || !PREFIX.test(prefix)))
    throw bad(text, `"${key}": the prefix must be a DNS subdomain`);
  return key;
}

function checkValue(text: string, value: string): string {
  if (!VALUE.test(value)) throw bad(text, `"${value}" is not a label value (alphanumerics, '-', '_', '.', at most 63)`);
  return value;
}

/** Split at top-level commas (not inside parentheses). */
function splitTop(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (depth < 0) throw bad(text, 'unbalanced ")"');
    if (ch === ',' && depth === 0) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (depth !== 0) throw bad(text, 'missing ")"');
  parts.push(cur);
  return parts;
}

export function parseSelector(text: string): Selector {
  if (text.trim() === '') return [];
  const out: Selector = [];
  for (const raw of splitTop(text)) {
    const part = raw.trim();
    if (part === '') throw bad(text, 'empty requirement');
    let m: RegExpMatchArray | null;
    if ((m = /^!\s*(\S+)$/.exec(part))) out.push({ key: checkKey(text, m[1]!), op: '!exists' });
    else if ((m = /^([^\s=!()]+)\s*(==|=|!=)\s*([^\s=!(),]*)$/.exec(part))) {
      const [, key, op, value] = m as unknown as [string, string, string, string];
      out.push({ key: checkKey(text, key), op: op === '!=' ? 'notin' : 'in', values: [checkValue(text, value)] });
    } else if ((m = /^([^\s=!()]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part))) {
      const [, key, op, list] = m as unknown as [string, string, 'in' | 'notin', string];
      const values = list.split(',').map((v) => checkValue(text, v.trim()));
      if (list.trim() === '') throw bad(text, `"${key} ${op} ()" needs at least one value`);
      out.push({ key: checkKey(text, key), op, values });
    } else if (/^[^\s=!(),]+$/.test(part)) out.push({ key: checkKey(text, part), op: 'exists' });
    else throw bad(text, `cannot parse "${part}" (key=value, key!=value, key in (a,b), key notin (a), key, !key)`);
  }
  return out;
}

export function matches(selector: Selector, labels: Record<string, string>): boolean {
  return selector.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case 'in':
        return has && r.values.includes(labels[r.key]!);
      case 'notin':
        return !has || !r.values.includes(labels[r.key]!);
    }
  });
}
