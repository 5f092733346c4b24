/**
 * Field paths as operators read them: `spec.containers[0].image`,
 * `metadata.annotations["k8s.v1.cni.cncf.io/networks"]`.
 */
export type FieldPath = ReadonlyArray<string | number>;

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

export function formatPath(path: FieldPath): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (IDENT.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}
