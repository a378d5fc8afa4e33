/** Reads a `--name value` flag; undefined when absent. */
export function stringFlag(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

/** Reads `--name value` flags with numeric defaults. */
export function numberFlag(name: string, fallback: number): number {
  const raw = stringFlag(name);
  const value = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
  return value;
}
