/**
 * berth.dev/v1 Network: a CNI network configuration list in YAML (DESIGN.md §2). `plugins`
 * are exactly a conflist's plugins: their keys pass through unchanged (CNI-02).
 */
import { z } from 'zod';

export const CNI_NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

export const PluginConf = z
  .object({
    type: z
      .string()
      .min(1)
      .regex(/^[^/\\]+$/, 'a plugin type must not contain a path separator'),
    capabilities: z.record(z.boolean()).optional(),
  })
  .passthrough();

/** libcni also accepts the strings "true"/"false" (any case) for its boolean flags (CNI-01). */
const CniBool = z.preprocess((v) => (typeof v === 'string' && /^(true|false)$/i.test(v) ? v.toLowerCase() === 'true' : v), z.boolean());

export const NetworkSpec = z
  .object({
    default: z.boolean().default(false),
    cniVersion: z.string().default('1.0.0'),
    cniVersions: z.array(z.string()).optional(),
    disableCheck: CniBool.optional(),
    disableGC: CniBool.optional(),
    /** accepted for conflist parity (CNI-03); a Network's plugins are always inline */
    loadOnlyInlinedPlugins: CniBool.optional(),
    plugins: z.array(PluginConf).min(1, 'a network needs at least one plugin'),
  })
  .strict();

export const Network = z
  .object({
    apiVersion: z.literal('berth.dev/v1'),
    kind: z.literal('Network'),
    metadata: z
      .object({
        name: z.string().max(63).regex(CNI_NETWORK_NAME, 'must be a CNI network name: letters, digits, "_", "." and "-"'),
        labels: z.record(z.string()).optional(),
        annotations: z.record(z.string()).optional(),
      })
      .strict(),
    spec: NetworkSpec,
  })
  .strict();

export type Network = z.infer<typeof Network>;
export type NetworkSpec = z.infer<typeof NetworkSpec>;
