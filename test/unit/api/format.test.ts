import { describe, expect, it } from 'vitest';
import { formatIssue } from '../../../src/api/index.js';
import type { SpecIssue } from '../../../src/api/index.js';

describe('formatIssue', () => {
  it.each<[SpecIssue, string]>([
    [
      { severity: 'error', file: 'a.yaml', line: 3, column: 5, path: 'spec.containers[0].image', message: 'is empty' },
      'a.yaml:3:5: error: spec.containers[0].image: is empty',
    ],
    [
      { severity: 'warning', file: 'a.yaml', line: 3, column: 5, path: 'spec.nodeName', message: 'ignored' },
      'a.yaml:3:5: warning: spec.nodeName: ignored',
    ],
    [{ severity: 'error', file: 'a.yaml', line: 3, path: 'x', message: 'm' }, 'a.yaml:3: error: x: m'],
    [{ severity: 'error', file: 'a.yaml', path: '', message: 'm' }, 'a.yaml: error: m'],
    [{ severity: 'error', file: '', path: 'x', message: 'm' }, 'error: x: m'],
  ])('%j', (issue, text) => {
    expect(formatIssue(issue)).toBe(text);
  });
});
