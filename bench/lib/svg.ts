/** A tiny line-chart SVG writer: enough for "cost against N" curves, no dependencies. */

export interface Series {
  name: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  /** Horizontal reference lines, e.g. targets. */
  refs?: { y: number; label: string }[];
}

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd"];

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function niceMax(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

export function lineChart(series: Series[], opt: ChartOptions): string {
  const W = 640;
  const H = 400;
  const L = 70;
  const R = 160;
  const T = 40;
  const B = 50;
  const pts = series.flatMap((s) => s.points);
  const xs = pts.map((p) => p[0]);
  const ys = pts.map((p) => p[1]).concat((opt.refs ?? []).map((r) => r.y));
  const fx = opt.logX ? (x: number) => Math.log10(Math.max(x, 1e-9)) : (x: number) => x;
  const x0 = opt.logX ? Math.min(...xs.map(fx)) : 0;
  const x1 = Math.max(...xs.map(fx), x0 + 1e-9);
  const y1 = niceMax(Math.max(...ys, 0));
  const px = (x: number): number => L + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - L - R);
  const py = (y: number): number => H - B - (y / y1) * (H - T - B);
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2 - R / 2}" y="22" text-anchor="middle" font-size="15">${esc(opt.title)}</text>`,
  );
  for (let i = 0; i <= 5; i++) {
    const y = (y1 * i) / 5;
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`,
      `<text x="${L - 6}" y="${py(y) + 4}" text-anchor="end">${+y.toPrecision(3)}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(
      `<line x1="${px(x)}" x2="${px(x)}" y1="${H - B}" y2="${H - B + 5}" stroke="#333"/>`,
      `<text x="${px(x)}" y="${H - B + 18}" text-anchor="middle">${+x.toPrecision(4)}</text>`,
    );
  }
  out.push(
    `<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>`,
    `<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>`,
    `<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle">${esc(opt.xLabel)}</text>`,
    `<text transform="translate(16 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle">${esc(opt.yLabel)}</text>`,
  );
  for (const r of opt.refs ?? []) {
    out.push(
      `<line x1="${L}" x2="${W - R}" y1="${py(r.y)}" y2="${py(r.y)}" stroke="#888" stroke-dasharray="6 4"/>`,
      `<text x="${W - R + 4}" y="${py(r.y) + 4}" fill="#555">${esc(r.label)}</text>`,
    );
  }
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length]!;
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    out.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2" points="${sorted.map(([x, y]) => `${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(" ")}"/>`,
    );
    if (sorted.length <= 40) {
      for (const [x, y] of sorted)
        out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3" fill="${c}"/>`);
    }
    const ly = T + 10 + i * 18;
    out.push(
      `<line x1="${W - R + 10}" x2="${W - R + 30}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2"/>`,
      `<text x="${W - R + 34}" y="${ly + 4}">${esc(s.name)}</text>`,
    );
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}
