// An esbuild plugin for scripts/bundle.mjs: the Node built-ins named are required on first use
// of one of their exports, not when the module importing them is evaluated. Bundled, each
// module's imports are evaluated when it is, and for `reconcile --once` of nothing that was
// http, http2, tls, zlib and more: Node compiles and runs each (about 40 ms here).
// Only built-ins whose exports are a plain object (a function, as `events` is, could not be
// stood in for); each export is a getter (and setter) of the real module's, and a name this
// build's Node did not have goes to the real module through the prototype.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export function lazyBuiltins(names) {
  return {
    name: 'lazy-builtins',
    setup(b) {
      b.onResolve({ filter: new RegExp(`^(node:)?(${names.join('|')})$`) }, (args) =>
        // the stand-in's own require is of the real module
        args.namespace === 'lazy-builtin' ? undefined : { path: args.path.replace(/^node:/, ''), namespace: 'lazy-builtin' },
      );
      b.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, ({ path }) => {
        const real = require(`node:${path}`);
        if (typeof real !== 'object' || real === null)
          throw new Error(`lazy-builtins: node:${path} exports a ${typeof real}, not an object`);
        const keys = JSON.stringify(Object.getOwnPropertyNames(real));
        return {
          loader: 'js',
          contents: `let real;
const load = () => (real ??= require("node:${path}"));
const lazy = Object.create(new Proxy({}, { get: (_t, k) => load()[k], has: (_t, k) => k in load() }));
for (const k of ${keys}) Object.defineProperty(lazy, k, { enumerable: true, configurable: true, get: () => load()[k], set: (v) => { load()[k] = v; } });
module.exports = lazy;`,
        };
      });
    },
  };
}
