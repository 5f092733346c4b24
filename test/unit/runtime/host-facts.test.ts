import { describe, expect, it } from 'vitest';
import { capabilitiesOfMask, cgroupModeOf, parseCgroupMounts, parseProcLimits } from '../../../src/runtime/host-facts.js';
import { crunNeedsWrapper, crunWrapperScript } from '../../../src/runtime/oci-runtime.js';
import { normalizeSignal } from '../../../src/runtime/conmon-runtime.js';
import { parseProcStat } from '../../../src/runtime/proc.js';

const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;
const V2 = `30 23 0:27 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
`;
const V1 = `32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/with\\040space rw,relatime - cgroup cgroup rw,pids
`;

describe('cgroup mode', () => {
  it.each([
    ['hybrid', HYBRID, 'hybrid'],
    ['v2', V2, 'v2'],
    ['v1', V1, 'v1'],
  ])('%s', (_n, text, mode) => expect(cgroupModeOf(parseCgroupMounts(text))).toBe(mode));

  it('unescapes mount points', () => {
    expect(parseCgroupMounts(V1).v1).toEqual(['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/with space']);
    expect(parseCgroupMounts(HYBRID).v2).toEqual(['/sys/fs/cgroup/unified']);
  });

  it.each([
    ['hybrid with a v2 controller', { mode: 'hybrid', unifiedMount: '/u', unifiedControllers: ['hugetlb'], v1Mounts: [] }, true],
    ['hybrid with an empty v2', { mode: 'hybrid', unifiedMount: '/u', unifiedControllers: [], v1Mounts: [] }, false],
    ['v2', { mode: 'v2', unifiedMount: '/sys/fs/cgroup', unifiedControllers: ['cpu', 'memory'], v1Mounts: [] }, false],
    ['v1', { mode: 'v1', unifiedControllers: [], v1Mounts: ['/x'] }, false],
  ] as const)('crun wrapper needed: %s', (_n, cg, expected) => {
    expect(crunNeedsWrapper({ ...cg, unifiedControllers: [...cg.unifiedControllers], v1Mounts: [...cg.v1Mounts] })).toBe(expected);
  });

  it('the wrapper passes argv through and unmounts the cgroup2 hierarchy privately', () => {
    const s = crunWrapperScript('/usr/bin/crun', '/sys/fs/cgroup/unified');
    expect(s.startsWith('#!/bin/sh\n')).toBe(true);
    expect(s).toContain('unshare -m --propagation private sh -c');
    expect(s).toContain(`umount '\\''/sys/fs/cgroup/unified'\\''`);
    expect(s).toContain(`exec '\\''/usr/bin/crun'\\'' "$@"`);
    expect(s.trimEnd().endsWith(`crun "$@"`)).toBe(true);
  });
});

describe('host limits and capabilities', () => {
  it('parses /proc/self/limits', () => {
    const text = `Limit                     Soft Limit           Hard Limit           Units
Max cpu time              unlimited            unlimited            seconds
Max processes             96365                96365                processes
Max open files            1024                 20000                files
`;
    expect(parseProcLimits(text)).toEqual({
      RLIMIT_CPU: { soft: Infinity, hard: Infinity },
      RLIMIT_NPROC: { soft: 96365, hard: 96365 },
      RLIMIT_NOFILE: { soft: 1024, hard: 20000 },
    });
  });

  it('decodes a capability mask (this host lacks CAP_SYS_RESOURCE)', () => {
    const caps = capabilitiesOfMask('000001fffeffffff');
    expect(caps).toHaveLength(40);
    expect(caps).not.toContain('CAP_SYS_RESOURCE');
    expect(caps).toContain('CAP_CHECKPOINT_RESTORE');
  });
});

describe('small parsers', () => {
  it('parses /proc/<pid>/stat with spaces and parens in comm', () => {
    const text = '4242 (we ird) (x)) Z 1 4242 4242 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 987654 0 0 18446744073709551615\n';
    expect(parseProcStat(text)).toEqual({ pid: 4242, state: 'Z', ppid: 1, startTime: 987654 });
  });
  it.each([
    ['TERM', 'SIGTERM'],
    ['sigquit', 'SIGQUIT'],
    ['SIGKILL', 'SIGKILL'],
    ['9', '9'],
  ])('signal %s → %s', (s, out) => expect(normalizeSignal(s)).toBe(out));
});
