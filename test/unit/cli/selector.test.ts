import { describe, expect, it } from 'vitest';
import { matches, parseSelector } from '../../../src/cli/selector.js';

const sel = (s: string, labels: Record<string, string>) => matches(parseSelector(s), labels);

describe('label selectors (Kubernetes syntax)', () => {
  const web = { app: 'web', tier: 'front', 'example.com/team': 'a' };

  it('parses equality, inequality, set-based and existence requirements', () => {
    expect(parseSelector('app=web, tier==front,env!=prod')).toEqual([
      { key: 'app', op: 'in', values: ['web'] },
      { key: 'tier', op: 'in', values: ['front'] },
      { key: 'env', op: 'notin', values: ['prod'] },
    ]);
    expect(parseSelector('tier in (front, edge),env notin (prod),app,!legacy')).toEqual([
      { key: 'tier', op: 'in', values: ['front', 'edge'] },
      { key: 'env', op: 'notin', values: ['prod'] },
      { key: 'app', op: 'exists' },
      { key: 'legacy', op: '!exists' },
    ]);
    expect(parseSelector('')).toEqual([]);
  });

  it('matches as the apiserver does: comma is AND, != and notin match a missing label', () => {
    expect(sel('app=web', web)).toBe(true);
    expect(sel('app==web,tier=front', web)).toBe(true);
    expect(sel('app=web,tier=back', web)).toBe(false);
    expect(sel('app!=db', web)).toBe(true);
    expect(sel('app!=web', web)).toBe(false);
    expect(sel('env!=prod', web)).toBe(true);
    expect(sel('tier in (edge,front)', web)).toBe(true);
    expect(sel('tier in (edge)', web)).toBe(false);
    expect(sel('env in (prod)', web)).toBe(false);
    expect(sel('tier notin (front)', web)).toBe(false);
    expect(sel('env notin (prod)', web)).toBe(true);
    expect(sel('app', web)).toBe(true);
    expect(sel('env', web)).toBe(false);
    expect(sel('!env', web)).toBe(true);
    expect(sel('!app', web)).toBe(false);
    expect(sel('example.com/team=a', web)).toBe(true);
    expect(sel('app=', { app: '' })).toBe(true);
    expect(sel('', web)).toBe(true);
  });

  it.each([
    'app=web,',
    'app in (a',
    'app in ()',
    '=web',
    'app=we b',
    'a b',
    'app=web=x',
    'bad key=1',
    '-app=x',
    'Ex_Ample.com/x=1',
    'app=' + 'x'.repeat(64),
    'app in (a,b))',
  ])('refuses %j', (s) => {
    expect(() => parseSelector(s)).toThrow(/invalid label selector/);
  });
});
