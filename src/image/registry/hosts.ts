/** Small facts about registry hosts: loopback/private addresses, Docker Hub's API host (DST-02). */
import { isIP } from 'node:net';

export const DOCKER_HUB = 'docker.io';
/** DST-02: the host that serves Docker Hub's registry API. */
export const DOCKER_HUB_API = 'registry-1.docker.io';

/** The host:port to talk to for a registry name (Docker Hub's API host for docker.io). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

export function isLoopbackOrPrivate(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  const v = isIP(h);
  if (v === 4) {
    const [a, b] = h.split('.').map(Number) as [number, number];
    return a === 127 || a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  if (v === 6) {
    const l = h.toLowerCase();
    return l === '::1' || l.startsWith('fc') || l.startsWith('fd') || l.startsWith('fe80');
  }
  return false;
}
