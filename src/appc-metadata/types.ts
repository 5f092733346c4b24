/**
 * The appc metadata service port (appc `spec/ace.md` "App Container Metadata Service"): what
 * the reconciler asks of it for pods with ACI apps. The agent serves it (service.ts); a
 * command that only reads runs none (disabled.ts).
 */
import type { Annotation } from './pod-manifest.js';

export interface MetadataApp {
  name: string;
  imageId: string;
  /** the ACI's manifest as its own bytes */
  imageManifestText: string;
  imageAnnotations: Annotation[];
  /** the RuntimeApp's annotations of the pod manifest (override the image's) */
  appAnnotations: Annotation[];
}

export interface PodMetadata {
  uid: string;
  /** the pod's IPv4 address on its first network; undefined for hostNetwork pods */
  podIP?: string | undefined;
  manifest: Record<string, unknown>;
  annotations: Annotation[];
  apps: MetadataApp[];
}

export interface AppcMetadataService {
  /** Serve a pod (again: its data is replaced); resolves with its `AC_METADATA_URL`. */
  register(p: PodMetadata): Promise<string>;
  /** Stop serving a pod; a pod that is not served is success. */
  unregister(uid: string): Promise<void>;
  /** Stop serving every pod (the agent stops). */
  close(): Promise<void>;
}
