/**
 * `berth exec POD [-c APP] [-i] [-t] [-q] -- CMD…`, as `kubectl exec`: the command runs inside
 * the running app with the app's own confinement (namespaces, cgroup, user, capabilities,
 * seccomp, no_new_privs: AppRuntime.exec), its exit code is berth's. Without -c the app is
 * the pod's `kubectl.kubernetes.io/default-container`, else its first; with more than one app
 * kubectl's "Defaulted container" notice goes to stderr.
 *
 * -i passes stdin through. -t allocates a terminal (stdout and stderr arrive on it), relayed
 * by the runtime from berth's own terminal: when stdin is not a terminal, as kubectl, "Unable
 * to use a TTY - input is not a terminal…" and the command runs without one.
 */
import type { Command } from 'commander';
import { BerthError } from '../../common/errors.js';
import { silentLogger } from '../../common/logger.js';
import { layoutOf } from '../globals.js';
import { act, examples, findPod, opts } from '../common.js';

const DEFAULT_CONTAINER_ANNOTATION = 'kubectl.kubernetes.io/default-container';

/** The app a command means: -c, else the default-container annotation, else the first app; and the notice to print. */
export function pickApp(
  pod: { metadata: { name: string; annotations?: Record<string, string> | undefined }; spec: { containers: Array<{ name: string }> } },
  container: string | undefined,
): { app: string; notice?: string } {
  if (container !== undefined) return { app: container };
  const names = pod.spec.containers.map((c) => c.name);
  const annotated = pod.metadata.annotations?.[DEFAULT_CONTAINER_ANNOTATION];
  if (annotated && names.includes(annotated)) return { app: annotated };
  const app = names[0]!;
  if (names.length === 1) return { app };
  return { app, notice: `Defaulted container "${app}" out of: ${names.join(', ')}` };
}

export function register(program: Command): void {
  program
    .command('exec')
    .description('run a command inside a running app (as kubectl exec)')
    .argument('<pod>')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('-c, --container <app>', 'app name (default: the kubectl.kubernetes.io/default-container annotation, else the first app)')
    .option('-n, --namespace <ns>', 'namespace', 'default')
    .option('-i, --stdin', 'pass stdin to the command')
    .option('-t, --tty', 'stdin is a TTY: allocate a terminal')
    .option('-q, --quiet', 'print only what the command prints')
    .addHelpText(
      'after',
      examples([
        ['run a command in app probe of pod web', 'berth exec web -c probe -- id'],
        ['an interactive shell in the default app', 'berth exec -it web -- sh'],
        ["feed stdin to the command; berth exits with the command's exit code", 'echo hello | berth exec -i web -- cat'],
      ]),
    )
    .action(
      act(
        async (
          pod: string,
          command: string[],
          c: { container?: string; namespace: string; stdin?: boolean; tty?: boolean; quiet?: boolean },
          cmd: Command,
        ) => {
          const o = opts(cmd);
          const rec = await findPod(o, pod, c.namespace);
          const { app, notice } = pickApp(rec.pod, c.container);
          const appRec = rec.apps[app];
          if (!appRec)
            throw new BerthError('NotFound', `container ${app} not found in pod ${rec.key} (apps: ${Object.keys(rec.apps).join(', ')})`);
          if (notice && !c.quiet) process.stderr.write(`${notice}\n`);
          let tty = Boolean(c.tty);
          // the runtime runs the terminal from berth's own: stdin must be one (kubectl says the same)
          if (tty && !process.stdin.isTTY) {
            tty = false;
            if (!c.quiet) process.stderr.write('Unable to use a TTY - input is not a terminal or the right kind of file\n');
          }
          const layout = layoutOf(o);
          const { appRuntimeOf, ociRuntimeOf } = await import('../wire.js');
          const runtime = appRuntimeOf(layout, await ociRuntimeOf(o.runtime, layout, { readOnly: true }), silentLogger());
          const st = await runtime.status(appRec.containerId);
          if (st.state !== 'running')
            throw new BerthError('FailedPrecondition', `cannot exec in app ${app} of pod ${rec.key}: it is not running (${st.state})`);
          const ac = new AbortController();
          // with a terminal, ^C reaches the command through it; without one, it ends the command
          const onSigint = () => {
            if (!tty) ac.abort();
          };
          process.on('SIGINT', onSigint);
          try {
            const r = await runtime.exec(appRec.containerId, command, {
              stdio: 'inherit',
              tty,
              stdin: Boolean(c.stdin),
              signal: ac.signal,
            });
            return r.exitCode;
          } finally {
            process.off('SIGINT', onSigint);
          }
        },
      ),
    );
}
