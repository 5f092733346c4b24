import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../src/common/errors.js';
import { errorLine, EXIT_TABLE, exitCodeOf } from '../../../src/cli/exit-codes.js';
import { renderMan } from '../../../src/cli/man.js';

describe('one exit-code table', () => {
  it('maps error codes to 1 failed, 2 invalid input, 3 usage/internal', () => {
    expect(exitCodeOf(new BerthError('Unavailable', 'registry 127.0.0.1:1 unreachable'))).toBe(1);
    expect(exitCodeOf(new BerthError('NotFound', 'no OCI layout at /x'))).toBe(1);
    expect(exitCodeOf(new BerthError('InvalidArgument', 'bad reference'))).toBe(2);
    expect(exitCodeOf(new BerthError('FailedPrecondition', 'another berth (pid 1) holds /s'))).toBe(3);
    expect(exitCodeOf(new Error('boom'))).toBe(3);
    expect(exitCodeOf(new CommanderError(1, 'commander.unknownOption', 'x'))).toBe(3);
    expect(exitCodeOf(new CommanderError(0, 'commander.helpDisplayed', ''))).toBe(0);
    // the code of a wrapped cause counts
    expect(exitCodeOf(new Error('outer', { cause: new BerthError('PermissionDenied', 'inner') }))).toBe(1);
  });

  it('prints one line: berth: REASON: message, the stack only with --debug', () => {
    expect(errorLine(new BerthError('NotFound', 'pod default/x not found'))).toBe('berth: NotFound: pod default/x not found\n');
    expect(errorLine(new Error('boom'))).toBe('berth: Internal: boom\n');
    expect(errorLine(new Error('boom'), true)).toMatch(/^berth: Internal: boom\nError: boom\n\s+at /);
  });

  it('is the table the manual prints, with each command help in it', () => {
    const p = new Command('berth').description('agent').option('--state-dir <dir>');
    p.command('status').description('one row per pod').addHelpText('after', '\nExamples:\n  berth status -A');
    p.command('__complete', { hidden: true });
    const page = renderMan(p, '0.1.0', '2026-12-02', { exitStatus: EXIT_TABLE, files: ['/etc/podspecs specs'] });
    expect(page).toMatch(/^\.TH BERTH 1 "2026-12-02" "berth 0\.1\.0"/);
    expect(page).toContain('.SS berth status');
    expect(page).toContain('berth status \\-A'); // examples come from the same help text
    expect(page).not.toContain('__complete');
    for (const code of ['0', '1', '2', '3']) expect(page).toContain(`.TP\n${code}\n`);
  });
});
