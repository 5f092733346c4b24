/** Docker Hub's names (DST-02). */
export const DOCKER_HUB = 'docker.io';
/** DST-02: the host that serves Docker Hub's registry API. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

/** The host:port to talk to for a registry name (Docker Hub's API host for docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}
