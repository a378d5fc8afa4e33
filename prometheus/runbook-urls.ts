/*
 * Alertmanager and Grafana show `runbook_url` as a link only when it is absolute, and Prometheus rule files cannot
 * read a variable. So the rule files are rendered: every `runbook_url` is `<base>#<anchor>`, and rendering
 * replaces the base and keeps the anchor (the section of docs/runbooks.md named after the alert). The same
 * rendering runs over the promtool tests, whose expected annotations carry the same URLs.
 */

/** The package.json fields the default base is read from. */
export interface PackageInfo {
  readonly repository?: string | { readonly url?: string };
}

const runbookLine = /^(\s*(?:-\s+)?runbook_url:\s*)(['"]?)([^'"\s#]*)#([a-z0-9_-]+)\2\s*$/;

/** docs/runbooks.md as GitHub renders it, from package.json's `repository` (`git+https://github.com/o/r.git`). */
export function defaultRunbookBase(pkg: PackageInfo): string {
  const raw = typeof pkg.repository === 'string' ? pkg.repository : pkg.repository?.url;
  if (!raw) throw new Error('package.json has no repository url to build the default RUNBOOK_BASE_URL from');
  const repo = raw
    .replace(/^git\+/, '')
    .replace(/\.git$/, '')
    .replace(/\/$/, '');
  return `${repo}/blob/main/docs/runbooks.md`;
}

/** An absolute http(s) URL without a fragment (the anchor is appended), or an error naming the variable. */
export function parseRunbookBase(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error(`RUNBOOK_BASE_URL must be an absolute URL, got ${JSON.stringify(value)}`);
  }
  if (!['http:', 'https:'].includes(url.protocol) || url.hash !== '' || /[\s'"#]/.test(value)) {
    throw new Error(
      `RUNBOOK_BASE_URL must be an http(s) URL without a #fragment or quotes, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** `text` (a rule or promtool test file) with every runbook_url's base replaced, anchors and everything else kept. */
export function withRunbookBase(text: string, base: string): string {
  return text
    .split('\n')
    .map((line) => {
      const match = runbookLine.exec(line);
      return match ? `${match[1]}'${base}#${match[4]}'` : line;
    })
    .join('\n');
}

/** The runbook_url values of a rule or test file, as written. */
export function runbookUrlsIn(text: string): string[] {
  return text.split('\n').flatMap((line) => {
    const match = runbookLine.exec(line);
    return match ? [`${match[3]}#${match[4]}`] : [];
  });
}
