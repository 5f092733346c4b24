/** Which file names in a spec directory or git tree hold specs (editor and temporary files do not). */
const SPEC_FILE = /\.(ya?ml|json)$/;
const IGNORED = /(^\.|~$|\.swp$|\.bak$|\.tmp$)/;

export function isSpecFile(name: string): boolean {
  return SPEC_FILE.test(name) && !IGNORED.test(name);
}
