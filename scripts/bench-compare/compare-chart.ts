import type { CompareSummary } from './compare-results.js';
import { short } from '../../src/bench/report-table.js';

const COLORS = { 'one-by-one': '#8fb3d9', batched: '#1f5f9e' } as const;
const WIDTH = 820;
const LABEL_WIDTH = 250;
const BAR_HEIGHT = 16;
const ROW_GAP = 14;
const TOP = 64;

const escape = (text: string): string => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A tick step of 1, 2, 2.5 or 5 × 10^k giving about four steps up to `max`. */
function tickStep(max: number): number {
  const rough = max / 4;
  const power = 10 ** Math.floor(Math.log10(rough));
  return ([1, 2, 2.5, 5, 10].map((m) => m * power).find((step) => step >= rough) ?? 10 * power);
}

/** A grouped bar chart of delivered messages per second, one group per server, as SVG. */
export function renderChart(summary: CompareSummary): string {
  const rows = summary.rows;
  const highest = Math.max(1, ...rows.flatMap((r) => r.regimes.map((g) => g.best.delivered)));
  const step = tickStep(highest);
  const max = Math.ceil(highest / step) * step;
  const plotWidth = WIDTH - LABEL_WIDTH - 110;
  const rowHeight = BAR_HEIGHT * 2 + ROW_GAP;
  const saturated = rows.filter((r) => r.regimes.some((g) => g.regime.key === 'batched' && g.best.generatorSaturated)).map((r) => r.server.label);
  const footnote = saturated.length > 0 ? 22 : 0;
  const height = TOP + rows.length * rowHeight + 40 + footnote;
  const axisY = height - footnote;
  const x = (value: number): number => LABEL_WIDTH + (value / max) * plotWidth;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
    `<text x="16" y="24" font-size="15" font-weight="bold">Fanout: messages delivered per second (best of ${summary.rounds} rounds)</text>`,
    `<text x="16" y="42" fill="#555">1 channel × ${summary.connections} subscribers, ${summary.payload}-byte payload, ${summary.machine.cores}-core ${escape(summary.machine.cpu)}, generator on the same machine</text>`,
  ];
  for (let value = 0; value <= max; value += step) {
    const gx = x(value).toFixed(1);
    parts.push(`<line x1="${gx}" y1="${TOP - 8}" x2="${gx}" y2="${axisY - 34}" stroke="#e3e3e3"/>`);
    parts.push(`<text x="${gx}" y="${axisY - 20}" text-anchor="middle" fill="#777">${short(value)}</text>`);
  }
  rows.forEach((row, i) => {
    const y = TOP + i * rowHeight;
    parts.push(`<text x="${LABEL_WIDTH - 10}" y="${y + BAR_HEIGHT + 4}" text-anchor="end">${escape(row.server.label)}</text>`);
    row.regimes.forEach((g, j) => {
      const by = y + j * BAR_HEIGHT;
      const width = Math.max(1, x(g.best.delivered) - LABEL_WIDTH);
      parts.push(`<rect x="${LABEL_WIDTH}" y="${by}" width="${width.toFixed(1)}" height="${BAR_HEIGHT - 2}" fill="${COLORS[g.regime.key]}"/>`);
      parts.push(`<text x="${(LABEL_WIDTH + width + 6).toFixed(1)}" y="${by + BAR_HEIGHT - 5}" fill="#333">${short(g.best.delivered)}/s</text>`);
    });
  });
  const legendY = TOP - 20;
  (['one-by-one', 'batched'] as const).forEach((key, i) => {
    const lx = WIDTH - 250 + i * 120;
    parts.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" fill="${COLORS[key]}"/>`);
    parts.push(`<text x="${lx + 18}" y="${legendY}">${key === 'batched' ? 'batched' : 'one by one'}</text>`);
  });
  if (saturated.length > 0) {
    parts.push(
      `<text x="16" y="${height - 10}" fill="#555" font-size="11">Batched, the generator itself was the limit for ${escape(saturated.join(', '))}; per server core they compare in benchmarks.md.</text>`,
    );
  }
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
