/**
 * A port whose implementation is loaded on first use: commands that never call it never load
 * its code (the image service is about a third of berth: registries, OpenPGP, appc, tar).
 * Only for ports whose members are all async methods, which the type requires.
 */
type AsyncPort<T> = { [K in keyof T]: T[K] extends (...args: never[]) => Promise<unknown> ? T[K] : never };

export function lazyPort<T extends AsyncPort<T>>(load: () => Promise<T>): T {
  let loading: Promise<T> | undefined;
  const impl = () => (loading ??= load());
  return new Proxy({} as T, {
    get: (_target, prop) =>
      // a Proxy is not a thenable: `await host.images` must not look for a `then` method
      prop === 'then'
        ? undefined
        : (...args: unknown[]) => impl().then((i) => (i[prop as keyof T] as (...a: unknown[]) => Promise<unknown>).apply(i, args)),
  });
}
