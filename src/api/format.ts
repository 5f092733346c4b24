import type { SpecIssue } from './types.js';

/**
 * Compiler style: `file:line:column: error: path: message`. Missing parts are left out
 * (`file: error: message` when neither position nor path is known).
 */
export function formatIssue(i: SpecIssue): string {
  let where = i.file;
  if (i.line !== undefined) {
    where += `:${i.line}`;
    if (i.column !== undefined) where += `:${i.column}`;
  }
  const head = where === '' ? i.severity : `${where}: ${i.severity}`;
  return i.path ? `${head}: ${i.path}: ${i.message}` : `${head}: ${i.message}`;
}
