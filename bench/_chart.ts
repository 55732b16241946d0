import type { BenchRatio } from './_results.js';

const escape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A horizontal bar per ratio, 0 to 1.5 (1.0 = as fast as the baseline), with
 * the target as a tick: plain SVG, readable on GitHub and in any browser.
 */
export function ratioChart(entries: readonly BenchRatio[], subtitle: string): string {
  const rowH = 26;
  const left = 330;
  const width = 900;
  const barW = width - left - 90;
  const max = Math.max(1.5, ...entries.map((e) => e.ratio));
  const x = (r: number) => left + (Math.min(r, max) / max) * barW;
  const top = 56;
  const height = top + entries.length * rowH + 40;
  const rows = entries.map((e, i) => {
    const y = top + i * rowH;
    const good = e.target === undefined ? true : e.lowerIsBetter ? e.ratio <= e.target : e.ratio >= e.target;
    const colour = e.target === undefined ? '#5b8def' : good ? '#3aa876' : '#d9534f';
    const target =
      e.target === undefined
        ? ''
        : `<line x1="${x(e.target)}" x2="${x(e.target)}" y1="${y + 2}" y2="${y + rowH - 6}" stroke="#333" stroke-width="2"><title>target ${e.target}</title></line>`;
    return [
      `<text x="${left - 8}" y="${y + 16}" text-anchor="end">${escape(`${e.bench}: ${e.label}`)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(e.ratio) - left)}" height="${rowH - 10}" fill="${colour}"/>`,
      target,
      `<text x="${x(e.ratio) + 6}" y="${y + 16}">${e.ratio.toFixed(2)}${e.lowerIsBetter ? ' (lower is better)' : ''}</text>`,
    ].join('');
  });
  const axis = [0, 0.5, 1, 1.5]
    .filter((v) => v <= max)
    .map(
      (v) =>
        `<line x1="${x(v)}" x2="${x(v)}" y1="${top - 4}" y2="${height - 30}" stroke="#ccc" stroke-dasharray="${v === 1 ? '0' : '3,3'}"/>` +
        `<text x="${x(v)}" y="${height - 14}" text-anchor="middle" fill="#666">${v.toFixed(1)}</text>`,
    );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="13">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="16" y="24" font-size="16" font-weight="bold">vouchflow benchmarks: ratio against the baseline of the same run</text>`,
    `<text x="16" y="42" fill="#666">${escape(subtitle)}</text>`,
    ...axis,
    ...rows,
    `</svg>`,
  ].join('\n');
}
