/**
 * The `berth` executable (dist/bundle/berth.mjs). `berth --version` is answered here, before
 * the rest of berth (commander, the reconciler, the image and CNI modules: about 2 MB of
 * code that Node would parse and run first) is loaded; every other command line goes to
 * main.ts, loaded on demand (the bundle keeps it in its own chunk).
 */
declare const __BERTH_VERSION__: string | undefined;

const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-V')) {
  // what commander's .version() prints (main.ts), without loading it; a closed pipe is no error
  process.stdout.on('error', () => undefined);
  process.stdout.write(`${typeof __BERTH_VERSION__ === 'string' ? __BERTH_VERSION__ : '0.1.0'}\n`);
} else {
  await import('./main.js');
}
