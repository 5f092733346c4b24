import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseFile } from '../../../src/api/index.js';
import type { ParsedFile, SpecIssue } from '../../../src/api/index.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/specs/', import.meta.url));

export function fixtureText(name: string): string {
  return readFileSync(FIXTURES + name, 'utf8');
}

export function parseFixture(name: string): ParsedFile {
  return parseFile(fixtureText(name), name);
}

export const errors = (issues: SpecIssue[]): SpecIssue[] => issues.filter((i) => i.severity === 'error');
export const warnings = (issues: SpecIssue[]): SpecIssue[] => issues.filter((i) => i.severity === 'warning');

/** A minimal valid pod document, with extra YAML lines spliced into spec (indented by the caller). */
export function podYaml(name: string, opts: { annotation?: string; spec?: string; namespace?: string } = {}): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    'metadata:',
    `  name: ${name}`,
    ...(opts.namespace ? [`  namespace: ${opts.namespace}`] : []),
    ...(opts.annotation !== undefined ? ['  annotations:', `    k8s.v1.cni.cncf.io/networks: ${JSON.stringify(opts.annotation)}`] : []),
    'spec:',
    ...(opts.spec ? [opts.spec] : []),
    '  containers:',
    '    - name: app',
    '      image: busybox',
    '',
  ].join('\n');
}

export function networkYaml(name: string, opts: { default?: boolean; subnet?: string; bridge?: string } = {}): string {
  return [
    'apiVersion: berth.dev/v1',
    'kind: Network',
    `metadata: {name: ${name}}`,
    'spec:',
    ...(opts.default ? ['  default: true'] : []),
    '  plugins:',
    '    - type: bridge',
    `      bridge: ${opts.bridge ?? `br-${name}`}`,
    '      ipam:',
    '        type: host-local',
    `        ranges: [[{subnet: ${opts.subnet ?? '10.99.0.0/24'}}]]`,
    '',
  ].join('\n');
}
