/**
 * kubectl's JSONPath template subset (k8s.io/client-go/util/jsonpath) for `status -o
 * jsonpath=…` and `--sort-by`: literal text outside braces; inside `{}` a path (`$` root, `@`
 * current, `.field` (`\.` escapes a dot in a name), `['field']`, `[n]`, `[-n]`, `[a:b:c]`, `[*]`, `.*`, `..field` recursive
 * descent, `[?(@.f == "x")]` filters with == != < > <= >= or bare existence, `[0,2]`), several
 * paths joined by `,`, string literals (`{"\t"}`), and `{range PATH}…{end}`. Several results of
 * one expression print separated by a space; strings print raw, objects and arrays as JSON,
 * null as nothing; a missing field prints nothing (kubectl's allow-missing-template-keys).
 */
import { BerthError } from '../common/errors.js';

type Literal = string | number | boolean | null;
type Seg =
  | { k: 'field'; name: string }
  | { k: 'wild' }
  | { k: 'indices'; list: number[] }
  | { k: 'slice'; start: number | undefined; end: number | undefined; step: number }
  | { k: 'recurse'; then: Seg }
  | { k: 'filter'; left: Path; op: string | undefined; right: Path | { lit: Literal } | undefined };
interface Path {
  root: '$' | '@';
  segs: Seg[];
}
type Node = { t: 'text'; text: string } | { t: 'expr'; items: Array<Path | { lit: string }> } | { t: 'range'; path: Path; body: Node[] };

export interface Template {
  source: string;
  nodes: Node[];
}

const fail = (source: string, why: string) => new BerthError('InvalidArgument', `jsonpath template "${source}": ${why}`);

/** Index of the `close` that ends what starts at `from`, skipping quoted strings and nested brackets. */
function scanTo(s: string, from: number, close: string, source: string): number {
  const stack: string[] = [];
  for (let i = from; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"' || ch === "'") {
      const end = endOfString(s, i);
      if (end < 0) throw fail(source, 'unterminated string');
      i = end;
    } else if (stack.length === 0 && ch === close) return i;
    else if (ch === '[' || ch === '(') stack.push(ch === '[' ? ']' : ')');
    else if (ch === ']' || ch === ')') {
      if (stack.pop() !== ch) throw fail(source, `unbalanced "${ch}"`);
    }
  }
  throw fail(source, `missing "${close}"`);
}

function endOfString(s: string, start: number): number {
  const q = s[start];
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === q) return i;
  }
  return -1;
}

function unquote(s: string, source: string): string {
  const body = s.slice(1, -1);
  return body.replace(/\\(.)/g, (_, c: string) => {
    const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0' };
    if (map[c] === undefined) throw fail(source, `unknown escape "\\${c}"`);
    return map[c];
  });
}

function splitTop(s: string, source: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '"' || ch === "'") i = endOfString(s, i);
    else if (ch === '[' || ch === '(') i = scanTo(s, i + 1, ch === '[' ? ']' : ')', source);
    else if (ch === ',') {
      out.push(s.slice(start, i));
      start = i + 1;
    }
    if (i < 0) throw fail(source, 'unterminated string');
  }
  out.push(s.slice(start));
  return out.map((p) => p.trim());
}

/** a field name after `.`: `\.` escapes a dot (`.labels.example\.com/tier`) */
const NAME_RE = /^(?:[A-Za-z0-9_\-$/:]|\\\.)+/;

function parseLiteral(s: string, source: string): Literal | undefined {
  if (/^(["']).*\1$/s.test(s)) return unquote(s, source);
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  if (s === 'true' || s === 'false') return s === 'true';
  if (s === 'null') return null;
  return undefined;
}

function parseBracket(inner: string, source: string): Seg {
  const s = inner.trim();
  if (s === '*') return { k: 'wild' };
  if (s.startsWith('?')) {
    const m = /^\?\((.*)\)$/s.exec(s);
    if (!m) throw fail(source, `filter "${s}" must be ?(…)`);
    const expr = m[1]!.trim();
    const cmp = /^(.+?)\s*(==|!=|<=|>=|<|>)\s*(.+)$/s.exec(expr);
    if (!cmp) return { k: 'filter', left: parsePath(expr, source), op: undefined, right: undefined };
    const rhs = cmp[3]!.trim();
    const lit = parseLiteral(rhs, source);
    return {
      k: 'filter',
      left: parsePath(cmp[1]!.trim(), source),
      op: cmp[2]!,
      right: lit !== undefined ? { lit } : parsePath(rhs, source),
    };
  }
  if (/^(["']).*\1$/s.test(s)) return { k: 'field', name: unquote(s, source) };
  if (/^-?\d*:-?\d*(:-?\d+)?$/.test(s)) {
    const [a, b, c] = s.split(':');
    const num = (x: string | undefined) => (x === undefined || x === '' ? undefined : Number(x));
    const step = num(c) ?? 1;
    if (step === 0) throw fail(source, 'slice step 0');
    return { k: 'slice', start: num(a), end: num(b), step };
  }
  if (/^-?\d+(\s*,\s*-?\d+)*$/.test(s)) return { k: 'indices', list: s.split(',').map((x) => Number(x.trim())) };
  throw fail(source, `cannot parse "[${inner}]"`);
}

function parsePath(src: string, source: string): Path {
  let i = 0;
  let root: '$' | '@' = '@';
  if (src[0] === '$' || src[0] === '@') {
    root = src[0];
    i = 1;
  }
  const segs: Seg[] = [];
  const one = (): Seg => {
    if (src[i] === '[') {
      const end = scanTo(src, i + 1, ']', source);
      const seg = parseBracket(src.slice(i + 1, end), source);
      i = end + 1;
      return seg;
    }
    if (src[i] === '*') {
      i++;
      return { k: 'wild' };
    }
    const m = NAME_RE.exec(src.slice(i));
    if (!m) throw fail(source, `expected a field name at "${src.slice(i)}"`);
    i += m[0].length;
    return { k: 'field', name: m[0].replace(/\\\./g, '.') };
  };
  while (i < src.length) {
    if (src.startsWith('..', i)) {
      i += 2;
      segs.push({ k: 'recurse', then: one() });
    } else if (src[i] === '.') {
      i++;
      if (i === src.length) break; // `{.}` / `{@.}`: the current value
      segs.push(one());
    } else if (src[i] === '[') segs.push(one());
    else throw fail(source, `unexpected "${src.slice(i)}" (paths look like .field, [0], [*])`);
  }
  if (root === '@' && segs.length === 0 && src !== '@' && src !== '.' && src !== '@.') throw fail(source, `"${src}" is not a path`);
  return { root, segs };
}

export function parseTemplate(source: string): Template {
  const top: Node[] = [];
  const stack: Node[][] = [top];
  let i = 0;
  while (i < source.length) {
    const open = source.indexOf('{', i);
    const cur = stack[stack.length - 1]!;
    if (open < 0) {
      cur.push({ t: 'text', text: source.slice(i) });
      break;
    }
    if (open > i) cur.push({ t: 'text', text: source.slice(i, open) });
    const close = scanTo(source, open + 1, '}', source);
    const inner = source.slice(open + 1, close).trim();
    i = close + 1;
    if (inner === 'end') {
      if (stack.length === 1) throw fail(source, '{end} without {range}');
      stack.pop();
    } else if (/^range\s/.test(inner)) {
      const node: Node = { t: 'range', path: parsePath(inner.slice(5).trim(), source), body: [] };
      cur.push(node);
      stack.push(node.body);
    } else if (inner === '') throw fail(source, 'empty {}');
    else {
      cur.push({
        t: 'expr',
        items: splitTop(inner, source).map((p) => {
          if (/^(["']).*\1$/s.test(p)) return { lit: unquote(p, source) };
          return parsePath(p, source);
        }),
      });
    }
  }
  if (stack.length !== 1) throw fail(source, '{range} without {end}');
  return { source, nodes: top };
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const children = (v: unknown): unknown[] => (Array.isArray(v) ? v : isObj(v) ? Object.values(v) : []);

function descendants(v: unknown): unknown[] {
  return [v, ...children(v).flatMap(descendants)];
}

function compare(a: unknown, op: string, b: unknown): boolean {
  if (op === '==') return a === b || (typeof a !== 'object' && typeof b !== 'object' && String(a) === String(b) && typeof a === typeof b);
  if (op === '!=') return !compare(a, '==', b);
  if (typeof a === 'number' && typeof b === 'number') return op === '<' ? a < b : op === '>' ? a > b : op === '<=' ? a <= b : a >= b;
  if (typeof a === 'string' && typeof b === 'string') return op === '<' ? a < b : op === '>' ? a > b : op === '<=' ? a <= b : a >= b;
  return false;
}

function apply(seg: Seg, v: unknown, root: unknown): unknown[] {
  switch (seg.k) {
    case 'field':
      return isObj(v) && Object.prototype.hasOwnProperty.call(v, seg.name) ? [v[seg.name]] : [];
    case 'wild':
      return children(v);
    case 'indices':
      if (!Array.isArray(v)) return [];
      return seg.list
        .map((n) => (n < 0 ? v.length + n : n))
        .filter((n) => n >= 0 && n < v.length)
        .map((n) => v[n]);
    case 'slice': {
      if (!Array.isArray(v)) return [];
      const len = v.length;
      const norm = (n: number | undefined, dflt: number) =>
        n === undefined ? dflt : n < 0 ? Math.max(len + n, seg.step < 0 ? -1 : 0) : Math.min(n, seg.step < 0 ? len - 1 : len);
      const out: unknown[] = [];
      if (seg.step > 0) for (let i = norm(seg.start, 0); i < norm(seg.end, len); i += seg.step) out.push(v[i]);
      else for (let i = norm(seg.start, len - 1); i > norm(seg.end, -1); i += seg.step) out.push(v[i]);
      return out;
    }
    case 'recurse':
      return descendants(v).flatMap((d) => apply(seg.then, d, root));
    case 'filter':
      return children(v).filter((el) => {
        const left = evalPath(seg.left, root, el);
        if (seg.op === undefined) return left.length > 0 && left[0] !== null && left[0] !== false;
        const right = seg.right === undefined ? [] : 'lit' in seg.right ? [seg.right.lit] : evalPath(seg.right, root, el);
        return left.length > 0 && right.length > 0 && compare(left[0], seg.op, right[0]);
      });
  }
}

function evalPath(p: Path, root: unknown, cur: unknown): unknown[] {
  let nodes = [p.root === '$' ? root : cur];
  for (const seg of p.segs) nodes = nodes.flatMap((n) => apply(seg, n, root));
  return nodes;
}

const text = (v: unknown): string =>
  v === null || v === undefined ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);

function render(nodes: Node[], root: unknown, cur: unknown): string {
  let out = '';
  for (const n of nodes) {
    if (n.t === 'text') out += n.text;
    else if (n.t === 'range') for (const v of evalPath(n.path, root, cur)) out += render(n.body, root, v);
    else out += n.items.flatMap((it) => ('lit' in it ? [it.lit] : evalPath(it, root, cur).map(text))).join(' ');
  }
  return out;
}

/** Render a template over a document. */
export function execute(t: Template, doc: unknown): string {
  return render(t.nodes, doc, doc);
}

/**
 * kubectl's relaxed form for `--sort-by` (RelaxedJSONPathExpression): `.name`, `name` and
 * `{.name}` all name the field `name` of each item. Returns the values it selects.
 */
export function relaxedPath(expr: string): (item: unknown) => unknown[] {
  const e = expr.trim();
  const inner = e.startsWith('{') && e.endsWith('}') ? e.slice(1, -1).trim() : e;
  if (inner === '') throw fail(expr, 'empty path');
  const path = parsePath(
    inner.startsWith('.') || inner.startsWith('[') || inner.startsWith('$') || inner.startsWith('@') ? inner : `.${inner}`,
    expr,
  );
  return (item) => evalPath(path, item, item);
}
