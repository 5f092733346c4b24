/** Issue 10 item 4: one rule for retrying, and codes that are always ErrorCodes. */
import { describe, expect, it } from 'vitest';
import { BerthError, errorCodeOf, retryClass, wrap, type ErrorCode } from '../../../src/common/errors.js';
import { toAppError } from '../../../src/state-machines/app.machine.js';

const errno = (code: string) => Object.assign(new Error(`${code}: something`), { code });

describe('retryClass', () => {
  it('fails bad input, refusals and corrupt records at once, and backs off the rest', () => {
    const permanent: ErrorCode[] = ['InvalidArgument', 'FailedPrecondition', 'Unimplemented', 'PermissionDenied', 'DataLoss'];
    const transient: ErrorCode[] = ['NotFound', 'AlreadyExists', 'Unavailable', 'DeadlineExceeded', 'Canceled', 'Internal'];
    for (const c of permanent) expect(retryClass(c), c).toBe('permanent');
    for (const c of transient) expect(retryClass(c), c).toBe('transient');
  });

  it('treats NotFound as transient: an image tag can appear later', () => {
    expect(retryClass('NotFound')).toBe('transient');
  });

  it('treats an unknown or missing code as transient', () => {
    expect(retryClass(undefined)).toBe('transient');
    expect(retryClass('ENOENT')).toBe('transient');
  });
});

describe('errorCodeOf', () => {
  it('takes the BerthError code through the cause chain', () => {
    expect(errorCodeOf(new BerthError('PermissionDenied', 'no'))).toBe('PermissionDenied');
    expect(errorCodeOf(new Error('outer', { cause: new BerthError('Unavailable', 'down') }))).toBe('Unavailable');
    expect(errorCodeOf(wrap(errno('ENOENT'), 'reading x', 'DataLoss'))).toBe('DataLoss');
  });

  it('maps an errno to the code it stands for, and any other to Internal', () => {
    expect(errorCodeOf(errno('ENOENT'))).toBe('NotFound');
    expect(errorCodeOf(errno('EACCES'))).toBe('PermissionDenied');
    expect(errorCodeOf(errno('EBUSY'))).toBe('Unavailable');
    expect(errorCodeOf(errno('EXDEV'))).toBe('Internal');
    expect(errorCodeOf(new Error('wrapped', { cause: errno('EEXIST') }))).toBe('AlreadyExists');
  });

  it('says Internal for what carries no code', () => {
    expect(errorCodeOf(new Error('plain'))).toBe('Internal');
    expect(errorCodeOf('a string')).toBe('Internal');
    expect(errorCodeOf(null)).toBe('Internal');
    expect(errorCodeOf({ code: 42 })).toBe('Internal');
  });
});

describe('toAppError', () => {
  it('never puts an errno string into machine context', () => {
    expect(toAppError(errno('ENOENT'))).toEqual({ code: 'NotFound', message: 'ENOENT: something' });
    expect(toAppError(errno('EXDEV')).code).toBe('Internal');
  });

  it('keeps the code, message and waiting reason of a BerthError', () => {
    const err = new BerthError('NotFound', 'no such tag', { details: { reason: 'ErrImagePull' } });
    expect(toAppError(err)).toEqual({ code: 'NotFound', message: 'no such tag', reason: 'ErrImagePull' });
    expect(toAppError('thrown text')).toEqual({ code: 'Internal', message: 'thrown text' });
  });
});
