/**
 * The `berth` executable (dist/bundle/berth.mjs). `berth --version` is answered here, before
 * the rest of berth (commander, the reconciler, the image and CNI modules: about 2 MB of
 * code that Node would parse and run first) is loaded; every other command line goes to
 * main.ts. Built (scripts/bundle.mjs), main.ts and all it imports are one script,
 * dist/bundle/berth.cjs, compiled here with the V8 code cache the build made for it: V8
 * takes the compiled functions from the cache instead of compiling them. A cache that is
 * missing, or that V8 rejects (another Node or V8 version, other V8 flags), costs only that:
 * V8 compiles the script as Node would. Not built (dist/cli/entry.js), it imports main.js.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Script } from 'node:vm';

declare const __BERTH_VERSION__: string | undefined;
/** The hash of dist/bundle/berth.cjs, in the name of its code cache. */
declare const __BERTH_BUNDLE_ID__: string | undefined;

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // what commander's .version() prints (main.ts), without loading it; a closed pipe is no error
  process.stdout.on('error', () => undefined);
  process.stdout.write(`${typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.1.0'}\n`);
} else if (typeof __BERTH_BUNDLE_ID__ === 'string') {
  runProgram(fileURLToPath(new URL('./berth.cjs', import.meta.url)), __BERTH_BUNDLE_ID__);
} else {
  await import('./main.js');
}

/** Run the program script (the body of a CommonJS module wrapper; ASCII, so read as latin1 without decoding). */
function runProgram(file: string, id: string): void {
  let cachedData: Buffer | undefined;
  try {
    cachedData = readFileSync(`${file}.${id}.v8cache`);
  } catch {
    /* no cache: compiled as usual */
  }
  const script = new Script(readFileSync(file, 'latin1'), { filename: file, cachedData });
  const wrapper = script.runInThisContext() as (...a: unknown[]) => void;
  const module = { exports: {} };
  wrapper.call(module.exports, module.exports, createRequire(file), module, file, dirname(file));
}
