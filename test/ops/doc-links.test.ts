import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import GithubSlugger from 'github-slugger';
import { readRepoFile, repoRoot } from './repo-files.js';

/*
 * The README is a front door: short, and every link in it and in docs/ leads somewhere. A relative link names a file
 * of the repository, and an anchor names a heading of its page as GitHub renders it.
 */

const pages = [
  'README.md',
  ...readdirSync(join(repoRoot, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** The page's text outside fenced code, where a `#` line is code and a `[x](y)` is not a link. */
function prose(markdown: string): string {
  return markdown.replace(/^```[\s\S]*?^```/gm, '');
}

function anchorsOf(page: string): Set<string> {
  const slugger = new GithubSlugger();
  const anchors = new Set<string>();
  for (const [, title] of prose(readRepoFile(page)).matchAll(/^#{1,6} (.+)$/gm)) anchors.add(slugger.slug(title ?? ''));
  return anchors;
}

describe('documentation', () => {
  it('has a README of at most about 250 lines', () => {
    const lines = readRepoFile('README.md').split('\n').length;
    assert.ok(lines <= 260, `README.md is ${lines} lines: move topics to docs/`);
  });

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const page of pages) {
      // Inline code spans hold examples, not links.
      const text = prose(readRepoFile(page)).replace(/`[^`\n]*`/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (!target || /^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
        const [path, anchor] = target.split('#') as [string, string | undefined];
        const file = path === '' ? page : normalize(join(dirname(page), decodeURIComponent(path)));
        if (!existsSync(join(repoRoot, file))) {
          broken.push(`${page}: ${target} (no file ${file})`);
          continue;
        }
        if (anchor && file.endsWith('.md') && !anchorsOf(file).has(anchor))
          broken.push(`${page}: ${target} (no heading #${anchor} in ${file})`);
      }
    }
    assert.deepEqual(broken, []);
  });
});
