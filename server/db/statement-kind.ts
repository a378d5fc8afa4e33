/**
 * What a statement can do to committed data, read from its first keyword: the one place that decides whether a
 * statement cut off after it was sent may have committed (see statement-deadline.ts). Unknown statements count as
 * writes, so a doubt always falls on the side of "may have committed".
 */
export type StatementKind = 'read' | 'write' | 'begin' | 'commit' | 'rollback' | 'implicit_commit';

const reads = new Set(['SELECT', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'DO', 'HELP']);
// Statements that end an open transaction with a commit before they run (MySQL "statements that cause an implicit
// commit"); the ones this service could plausibly send.
const implicitCommits = new Set(['CREATE', 'ALTER', 'DROP', 'RENAME', 'TRUNCATE', 'GRANT', 'REVOKE', 'LOCK', 'UNLOCK']);
// Leading blanks and comments, then the first word.
const firstWord = /^(?:\s+|\/\*[\s\S]*?\*\/|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$))*([A-Za-z]+)/;

export function statementKind(sql: string): StatementKind {
  const word = firstWord.exec(sql)?.[1]?.toUpperCase();
  if (word === undefined) return 'write';
  if (reads.has(word)) return 'read';
  if (word === 'START' || word === 'BEGIN') return 'begin';
  if (word === 'COMMIT') return 'commit';
  // ROLLBACK TO SAVEPOINT keeps the transaction open: for what it may commit, it is a read.
  if (word === 'ROLLBACK') return /^\s*ROLLBACK\s+(?:WORK\s+)?TO\b/i.test(sql) ? 'read' : 'rollback';
  if (implicitCommits.has(word)) return 'implicit_commit';
  return 'write';
}

/**
 * True when a statement of this kind, once sent, may leave committed data behind: a COMMIT, a write outside an
 * explicit transaction (autocommit), anything that commits implicitly, and a BEGIN inside a transaction (which
 * commits the open one). A write inside a transaction commits nothing by itself.
 */
export function mayCommit(kind: StatementKind, inTransaction: boolean): boolean {
  switch (kind) {
    case 'commit':
    case 'implicit_commit':
      return true;
    case 'write':
      return !inTransaction;
    case 'begin':
      return inTransaction;
    default:
      return false;
  }
}
