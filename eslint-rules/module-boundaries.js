// Module boundaries of DESIGN.md §4, enforced on every import edge: each relative import
// specifier (static import, export-from, dynamic import(), `typeof import()`) is resolved
// against the importing file, both ends are mapped to a module zone (the first directory
// under the root), and an edge the zone table does not allow is reported.
//
// Options: { root: absolute path of src, zones: { module: [allowed, ...] } }. An allowed
// entry is a module (`'common'`), `'types:<module>'` (type-only imports of it), or a path
// inside a module (`'cli/format.ts'`) for one file of it. Imports inside a module are free.
import path from 'node:path';

const TYPES = 'types:';

/** @type {import('eslint').Rule.RuleModule} */
export default {
  meta: {
    type: 'problem',
    docs: { description: 'imports follow the module zone table (DESIGN.md §4)' },
    schema: [
      {
        type: 'object',
        properties: {
          root: { type: 'string' },
          zones: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } },
        },
        required: ['root', 'zones'],
        additionalProperties: false,
      },
    ],
    messages: {
      forbidden: "{{from}} may not import {{to}} ('{{spec}}'); {{from}} may import: {{allowed}}",
      typesOnly: "{{from}} may import only types from {{to}} ('{{spec}}'): use `import type`",
      outside: "'{{spec}}' resolves outside {{root}}; modules import only each other",
      unknownFrom: "{{file}} is in no module zone: add '{{zone}}' to moduleZones in eslint.config.js",
      unknownTo: "'{{spec}}' points into '{{zone}}', which is in no module zone of moduleZones in eslint.config.js",
    },
  },
  create(context) {
    const { root, zones } = context.options[0];
    const file = context.filename;
    const rel = path.relative(root, file);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return {};
    const from = zoneOf(rel);
    if (!from || !Object.hasOwn(zones, from)) {
      return {
        Program() {
          context.report({ loc: { line: 1, column: 0 }, messageId: 'unknownFrom', data: { file: rel, zone: from ?? rel } });
        },
      };
    }
    const allowed = zones[from];

    /** @param {import('estree').Node} node @param {string} spec @param {boolean} typeOnly */
    function check(node, spec, typeOnly) {
      if (!spec.startsWith('.') && !path.isAbsolute(spec)) return; // a package
      const target = path.relative(root, path.resolve(path.dirname(file), spec));
      if (target.startsWith('..') || path.isAbsolute(target)) {
        context.report({ node, messageId: 'outside', data: { spec, root: path.basename(root) } });
        return;
      }
      // `'../../reconciler'` names the module's directory (its index)
      const to = Object.hasOwn(zones, target) ? target : zoneOf(target);
      if (to === from) return;
      if (!to || !Object.hasOwn(zones, to)) {
        context.report({ node, messageId: 'unknownTo', data: { spec, zone: to ?? (target || '.') } });
        return;
      }
      const norm = target.split(path.sep).join('/');
      const byPath = allowed.some((a) => a.includes('/') && (stripExt(norm) === stripExt(a) || norm.startsWith(`${a}/`)));
      if (allowed.includes(to) || byPath) return;
      if (allowed.includes(TYPES + to)) {
        if (!typeOnly) context.report({ node, messageId: 'typesOnly', data: { from, to, spec } });
        return;
      }
      context.report({ node, messageId: 'forbidden', data: { from, to, spec, allowed: allowed.join(', ') || 'nothing internal' } });
    }

    /** @param {any} node */
    const literal = (node) => (node && node.type === 'Literal' && typeof node.value === 'string' ? node.value : undefined);
    /** @param {any} node */
    const allTypeSpecifiers = (node) =>
      node.specifiers.length > 0 && node.specifiers.every((s) => s.importKind === 'type' || s.exportKind === 'type');

    return {
      ImportDeclaration(node) {
        check(node.source, node.source.value, node.importKind === 'type' || allTypeSpecifiers(node));
      },
      ExportNamedDeclaration(node) {
        if (node.source) check(node.source, node.source.value, node.exportKind === 'type' || allTypeSpecifiers(node));
      },
      ExportAllDeclaration(node) {
        check(node.source, node.source.value, node.exportKind === 'type');
      },
      ImportExpression(node) {
        const spec = literal(node.source);
        if (spec !== undefined) check(node.source, spec, false);
      },
      TSImportType(node) {
        // typescript-eslint 8.x names the specifier `source`; older versions `argument` (a TSLiteralType)
        const arg = 'source' in node ? node.source : node.argument;
        const spec = literal(arg?.literal ?? arg);
        if (spec !== undefined) check(node, spec, true);
      },
    };
  },
};

/** @param {string} rel a path relative to the root */
function zoneOf(rel) {
  const parts = rel.split(path.sep);
  return parts.length > 1 ? parts[0] : undefined;
}

/** @param {string} p */
function stripExt(p) {
  return p.replace(/\.(ts|js|mts|mjs)$/, '');
}
