/**
 * Durations as k6 and Go write them: `30s`, `2m`, `1m30s`, `1h`, `500ms`, `1.5s`. A bare number is seconds,
 * as --duration always took. Returns seconds, or undefined when the text is not a duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  // Largest unit first, each at most once: "1m30s" but not "30s1m" or "1m1m".
  const match = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$/.exec(
    trimmed,
  );
  if (!match || match.slice(1).every((part) => part === undefined)) return undefined;
  const [h, m, s, ms] = match.slice(1).map((part) => Number(part ?? 0)) as [number, number, number, number];
  return h * 3600 + m * 60 + s + ms / 1000;
}
