import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseCriLine, readCriLog, type ReadCriLogOptions } from '../../../src/runtime/index.js';

const T1 = '2026-11-28T00:58:09.807959490+00:00';
const T2 = '2026-11-28T00:58:10.000000001+00:00';
const T3 = '2026-11-28T00:58:11.5+00:00';

describe('parseCriLine', () => {
  it.each([
    [`${T1} stdout F hello world`, { time: T1, stream: 'stdout', partial: false, text: 'hello world' }],
    [`${T1} stderr P part`, { time: T1, stream: 'stderr', partial: true, text: 'part' }],
    [`${T1} stdout F `, { time: T1, stream: 'stdout', partial: false, text: '' }],
    [`${T1} stdout F`, { time: T1, stream: 'stdout', partial: false, text: '' }],
    [`${T1} stdout F  two  spaces `, { time: T1, stream: 'stdout', partial: false, text: ' two  spaces ' }],
    [`${T1} stdout F trailing newline\n`, { time: T1, stream: 'stdout', partial: false, text: 'trailing newline' }],
  ])('%j', (line, expected) => expect(parseCriLine(line)).toEqual(expected));

  it.each([[''], ['garbage'], [`${T1} stdin F x`], [`${T1} stdout X x`]])('rejects %j', (line) => {
    expect(parseCriLine(line)).toBeUndefined();
  });
});

describe('readCriLog', () => {
  let dir = '';
  let file = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-unit-logs-'));
    file = join(dir, '0.log');
    await writeFile(
      file,
      [
        `${T1} stdout F one`,
        `${T1} stderr P err-a`,
        `${T2} stdout P two-a`,
        `${T2} stdout P two-b`,
        `${T2} stderr F err-b`,
        `${T3} stdout F two-c`,
        `${T3} stdout F three`,
        `${T3} stdout P unterminated`,
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const read = async (opts: ReadCriLogOptions = {}, path = file) => {
    const out: string[] = [];
    for await (const l of readCriLog(path, opts)) out.push(l);
    return out;
  };

  it('joins partials per stream and flushes a final partial', async () => {
    expect(await read()).toEqual(['one', 'err-aerr-b', 'two-atwo-btwo-c', 'three', 'unterminated']);
  });

  it.each([
    [2, ['three', 'unterminated']],
    [0, []],
    [100, ['one', 'err-aerr-b', 'two-atwo-btwo-c', 'three', 'unterminated']],
  ])('tail %i', async (tail, expected) => {
    expect(await read({ tail })).toEqual(expected);
  });

  it('timestamps are those of the first fragment', async () => {
    expect(await read({ timestamps: true, tail: 3 })).toEqual([`${T2} two-atwo-btwo-c`, `${T3} three`, `${T3} unterminated`]);
  });

  it('one stream only', async () => {
    expect(await read({ stream: 'stderr' })).toEqual(['err-aerr-b']);
  });

  it('a missing file is empty', async () => {
    expect(await read({}, join(dir, 'nope.log'))).toEqual([]);
  });

  it('follow yields appended lines until aborted, and waits for partials to finish', async () => {
    const f = join(dir, 'follow.log');
    await writeFile(f, `${T1} stdout F first\n`);
    const ac = new AbortController();
    const got: string[] = [];
    const done = (async () => {
      for await (const l of readCriLog(f, { follow: true, signal: ac.signal, pollMs: 20 })) {
        got.push(l);
        if (got.length === 3) ac.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 50));
    // a line without its newline yet is not read until the rest arrives
    await appendFile(f, `${T2} stdout F sec`);
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(f, `ond-half\n${T2} stdout P thi\n`);
    await new Promise((r) => setTimeout(r, 50));
    await appendFile(f, `${T3} stdout F rd\n`);
    await done;
    expect(got).toEqual(['first', 'second-half', 'third']);
  });
});
