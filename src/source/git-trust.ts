/**
 * Commit signature verification for the git source (`--git-verify`): the OpenPGP keys in
 * `<config-dir>/git-trust/` (armored or binary, one or more per file; dotfiles ignored) are
 * imported into a keyring in a temporary GNUPGHOME made for this one check, and
 * `git verify-commit` decides. Only the keys in that directory are trusted: a commit signed
 * by any other key, or not signed, is refused. The operator's own keyring is never used.
 */
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from '../common/process.js';
import { BerthError, errorMessage, errnoOf } from '../common/errors.js';
import { gitMessage, runGit } from './git-command.js';

export const gitTrustDir = (configDir: string) => join(configDir, 'git-trust');

async function trustedKeyFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => !n.startsWith('.')).sort();
  } catch (err) {
    if (errnoOf(err) === 'ENOENT')
      throw new BerthError(
        'FailedPrecondition',
        `--git-verify: ${dir} does not exist: put the OpenPGP public keys whose commits may be applied there`,
      );
    throw new BerthError('FailedPrecondition', `--git-verify: ${dir} cannot be read: ${errorMessage(err)}`);
  }
  const files: string[] = [];
  for (const n of names) if ((await stat(join(dir, n))).isFile()) files.push(join(dir, n));
  if (!files.length)
    throw new BerthError(
      'FailedPrecondition',
      `--git-verify: ${dir} holds no keys: put the OpenPGP public keys whose commits may be applied there`,
    );
  return files;
}

/**
 * Is `commit` signed by one of the trusted keys? Resolves with the signer line gpg printed
 * ("Good signature from …"); rejects with PermissionDenied naming the commit otherwise.
 */
export async function verifyCommit(gitDir: string, commit: string, configDir: string, timeoutMs = 60_000): Promise<string> {
  const dir = gitTrustDir(configDir);
  const keys = await trustedKeyFiles(dir);
  const home = await mkdtemp(join(tmpdir(), 'berth-gnupg-'));
  try {
    for (const k of keys) {
      const r = await execa('gpg', ['--batch', '--quiet', '--no-tty', '--homedir', home, '--import', k], {
        reject: false,
        timeout: timeoutMs,
        stdin: 'ignore',
      });
      if (r.exitCode === undefined) throw new BerthError('FailedPrecondition', `--git-verify: gpg could not be run: ${r.message}`);
      if (r.exitCode !== 0)
        throw new BerthError(
          'FailedPrecondition',
          `--git-verify: ${k} is not an OpenPGP public key gpg can import: ${gitMessage(String(r.stderr))}`,
        );
    }
    const r = await runGit(['verify-commit', '--raw', commit], { gitDir, env: { GNUPGHOME: home }, timeoutMs });
    if (r.exitCode === 0) {
      const good = r.stderr.split('\n').find((l) => /GOODSIG|VALIDSIG/.test(l));
      return good?.replace(/^\[GNUPG:\]\s*/, '') ?? 'good signature';
    }
    const raw = r.stderr;
    const why = /NO_PUBKEY/.test(raw)
      ? 'it is signed by a key that is not in ' + dir
      : /BADSIG/.test(raw)
        ? 'its signature is bad'
        : /EXPKEYSIG|REVKEYSIG|EXPSIG/.test(raw)
          ? 'its signature is by an expired or revoked key'
          : raw.trim() === '' || /no signature found/i.test(raw)
            ? 'it is not signed'
            : gitMessage(raw);
    throw new BerthError('PermissionDenied', `commit ${commit.slice(0, 12)} is not applied: ${why} (--git-verify)`);
  } finally {
    await execa('gpgconf', ['--homedir', home, '--kill', 'all'], { reject: false, timeout: 10_000 }).catch(() => undefined); // only ends the agent of this scratch home, which is removed below either way
    await rm(home, { recursive: true, force: true });
  }
}
