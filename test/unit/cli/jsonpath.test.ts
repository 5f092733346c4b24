import { describe, expect, it } from 'vitest';
import { execute, parseTemplate, relaxedPath } from '../../../src/cli/jsonpath.js';

const doc = {
  pods: [
    {
      name: 'web',
      status: 'Running',
      restarts: 2,
      labels: { app: 'web', 'example.com/tier': 'front' },
      apps: [
        { name: 'nginx', pid: 10 },
        { name: 'side', pid: 11 },
      ],
      reason: null,
    },
    { name: 'db', status: 'Error', restarts: 0, labels: {}, apps: [{ name: 'pg', pid: null }], reason: 'pg' },
  ],
};
const run = (t: string) => execute(parseTemplate(t), doc);

describe('jsonpath templates (kubectl subset)', () => {
  it('selects fields, indices, wildcards and slices', () => {
    expect(run('{.pods[*].name}')).toBe('web db');
    expect(run('{.pods[0].status}')).toBe('Running');
    expect(run('{$.pods[-1].name}')).toBe('db');
    expect(run('{.pods[0:1].name}')).toBe('web');
    expect(run('{.pods[1:].name}')).toBe('db');
    expect(run('{.pods[0,1].restarts}')).toBe('2 0');
    expect(run('{.pods[0].apps[*].pid}')).toBe('10 11');
    expect(run('{.pods[0].labels.example\\.com/tier}')).toBe('front');
    expect(run("{.pods[0].labels['example.com/tier']}")).toBe('front');
    expect(run('{.pods[0].labels.*}')).toBe('web front');
  });

  it('prints literal text, string literals, objects as JSON, null and missing fields as nothing', () => {
    expect(run('names: {.pods[*].name}!')).toBe('names: web db!');
    expect(run('{.pods[0].name}{"\\t"}{.pods[0].status}{"\\n"}')).toBe('web\tRunning\n');
    expect(run('{.pods[0].labels}')).toBe('{"app":"web","example.com/tier":"front"}');
    expect(run('{.pods[0].reason}|{.pods[0].nothing}|{.nope[3].x}')).toBe('||');
    expect(run('{.pods[0].name,.pods[1].name}')).toBe('web db');
  });

  it('ranges over items, relative to each', () => {
    expect(run('{range .pods[*]}{.name}{"\\t"}{.status}{"\\n"}{end}')).toBe('web\tRunning\ndb\tError\n');
    expect(run('{range .pods[*]}[{range .apps[*]}{.name},{end}]{end}')).toBe('[nginx,side,][pg,]');
    expect(run('{range .pods[*]}{@.name}={$.pods[0].name};{end}')).toBe('web=web;db=web;');
  });

  it('filters and descends recursively', () => {
    expect(run('{.pods[?(@.status=="Error")].name}')).toBe('db');
    expect(run('{.pods[?(@.restarts > 1)].name}')).toBe('web');
    expect(run("{.pods[?(@.status != 'Error')].name}")).toBe('web');
    expect(run('{.pods[?(@.reason)].name}')).toBe('db');
    expect(run('{..pid}')).toBe('10 11 ');
    expect(run('{.pods[*].apps[?(@.pid)].name}')).toBe('nginx side');
  });

  it.each(['{.pods[*].name', '{range .pods[*]}{.name}', '{end}', '{}', '{.pods[x]}', '{pods}', '{"\\q"}', '{.pods[?(@.a]}'])(
    'refuses %j',
    (t) => {
      expect(() => parseTemplate(t)).toThrow(/jsonpath template/);
    },
  );

  it('has a relaxed form for --sort-by', () => {
    expect(relaxedPath('.name')(doc.pods[1])).toEqual(['db']);
    expect(relaxedPath('name')(doc.pods[1])).toEqual(['db']);
    expect(relaxedPath('{.apps[0].name}')(doc.pods[0])).toEqual(['nginx']);
    expect(relaxedPath('.missing')(doc.pods[0])).toEqual([]);
  });
});
