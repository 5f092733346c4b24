/**
 * Seccomp profile shapes: Docker's profile format (what Moby's default.json and many
 * operators' files use: `archMap`, `names`, conditional `includes`/`excludes`) and the OCI
 * runtime spec's `linux.seccomp` (what crun and runc read). A Docker-format profile is a
 * superset of the OCI one, so one schema reads both; `convertProfile` turns it into OCI.
 */
import { z } from 'zod';

export const SECCOMP_ACTIONS = [
  'SCMP_ACT_KILL',
  'SCMP_ACT_KILL_PROCESS',
  'SCMP_ACT_KILL_THREAD',
  'SCMP_ACT_TRAP',
  'SCMP_ACT_ERRNO',
  'SCMP_ACT_TRACE',
  'SCMP_ACT_ALLOW',
  'SCMP_ACT_LOG',
  'SCMP_ACT_NOTIFY',
] as const;

export const SECCOMP_OPERATORS = [
  'SCMP_CMP_NE',
  'SCMP_CMP_LT',
  'SCMP_CMP_LE',
  'SCMP_CMP_EQ',
  'SCMP_CMP_GE',
  'SCMP_CMP_GT',
  'SCMP_CMP_MASKED_EQ',
] as const;

export const SECCOMP_FLAGS = [
  'SECCOMP_FILTER_FLAG_TSYNC',
  'SECCOMP_FILTER_FLAG_LOG',
  'SECCOMP_FILTER_FLAG_SPEC_ALLOW',
  'SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV',
] as const;

const arch = z.string().regex(/^SCMP_ARCH_[A-Z0-9_]+$/, 'expected an SCMP_ARCH_* name');
const u64 = z.number().int().nonnegative();

const SeccompArg = z
  .object({ index: z.number().int().min(0).max(5), value: u64, valueTwo: u64.optional(), op: z.enum(SECCOMP_OPERATORS) })
  .strict();

const SeccompFilter = z
  .object({
    caps: z.array(z.string()).optional(),
    /** libseccomp's native names: amd64, x86, x32, arm, arm64, s390x, ppc64le, riscv64 … */
    arches: z.array(z.string()).optional(),
    /** "<kernel>.<major>", e.g. "4.8" */
    minKernel: z
      .string()
      .regex(/^\d+\.\d+$/, 'expected "<kernel>.<major>", e.g. "4.8"')
      .optional(),
  })
  .strict();

export const DockerSeccompRuleSchema = z
  .object({
    names: z.array(z.string().min(1)).optional(),
    /** the old single-name form; Moby still reads it */
    name: z.string().min(1).optional(),
    action: z.enum(SECCOMP_ACTIONS),
    errnoRet: u64.optional(),
    args: z.array(SeccompArg).nullable().optional(),
    comment: z.string().optional(),
    includes: SeccompFilter.optional(),
    excludes: SeccompFilter.optional(),
  })
  .strict();

export const DockerSeccompProfileSchema = z
  .object({
    defaultAction: z.enum(SECCOMP_ACTIONS),
    defaultErrnoRet: u64.optional(),
    architectures: z.array(arch).nullable().optional(),
    archMap: z
      .array(z.object({ architecture: arch, subArchitectures: z.array(arch).nullable() }).strict())
      .nullable()
      .optional(),
    flags: z.array(z.enum(SECCOMP_FLAGS)).nullable().optional(),
    listenerPath: z.string().optional(),
    listenerMetadata: z.string().optional(),
    syscalls: z.array(DockerSeccompRuleSchema).nullable().optional(),
  })
  .strict();

export type DockerSeccompRule = z.infer<typeof DockerSeccompRuleSchema>;
export type DockerSeccompProfile = z.infer<typeof DockerSeccompProfileSchema>;
export type SeccompAction = (typeof SECCOMP_ACTIONS)[number];

/** One rule of the OCI `linux.seccomp.syscalls`. */
export interface OciSeccompSyscall {
  names: string[];
  action: SeccompAction;
  errnoRet?: number;
  args?: Array<{ index: number; value: number; valueTwo?: number; op: string }>;
}

/** The OCI runtime spec's `linux.seccomp`. */
export interface OciSeccomp {
  defaultAction: SeccompAction;
  defaultErrnoRet?: number;
  architectures?: string[];
  syscalls?: OciSeccompSyscall[];
}

/** A pod's or container's `securityContext.seccompProfile`. */
export interface SeccompSelection {
  type: 'RuntimeDefault' | 'Localhost' | 'Unconfined';
  localhostProfile?: string;
}
