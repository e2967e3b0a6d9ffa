import { BarController, BarElement, CategoryScale, Chart, Legend, LinearScale, Tooltip } from "chart.js";
import { useEffect, useMemo, useRef } from "react";
import type { DayCost } from "../bindings/DayCost";
import type { ProviderKind } from "../bindings/ProviderKind";
import { chainPosition, formatUsd, providerName } from "../format";

/** Okabe–Ito colours: told apart with every common colour-vision deficiency, on light and dark. */
const PROVIDER_COLOUR: Record<ProviderKind, string> = {
  sns: "#E69F00",
  twilio: "#0072B2",
  console: "#CC79A7",
  ses: "#009E73",
  sendgrid: "#56B4E9",
  smtp: "#D55E00",
};
const OTHER_COLOUR = "#999999";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

export interface CostDay {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  cost: Partial<Record<ProviderKind, number>>;
  total: number;
}

const DAY_MS = 24 * 3600 * 1000;

/** Every day of the window, oldest first, with zero for a provider that did nothing that day. */
export function costDays(since: string, days: number, entries: DayCost[]): CostDay[] {
  const start = Date.parse(`${since}T00:00:00Z`);
  const out: CostDay[] = Array.from({ length: days }, (_, i) => ({
    day: new Date(start + i * DAY_MS).toISOString().slice(0, 10),
    cost: {},
    total: 0,
  }));
  const byDay = new Map(out.map((d) => [d.day, d]));
  for (const e of entries) {
    const d = byDay.get(e.day);
    if (!d) continue;
    d.cost[e.provider] = (d.cost[e.provider] ?? 0) + e.cost_usd;
    d.total += e.cost_usd;
  }
  return out;
}

function shortDay(day: string): string {
  return new Date(`${day}T00:00:00Z`).toLocaleDateString(undefined, { month: "short", day: "numeric", timeZone: "UTC" });
}

const AXIS_USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 });
const axisUsd = (v: number) => (v === 0 ? "$0" : AXIS_USD.format(v));

function prefersReducedMotion(): boolean {
  return typeof window.matchMedia === "function" && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
}

function CostTable({ days, providers }: { days: CostDay[]; providers: ProviderKind[] }) {
  const active = days.filter((d) => Object.keys(d.cost).length > 0);
  return (
    <details className="chart-table">
      <summary>Show as table</summary>
      <table className="data-table">
        <caption>Cost per provider per day (UTC), in USD. Days without provider calls are left out.</caption>
        <thead>
          <tr>
            <th scope="col">Day</th>
            {providers.map((p) => (
              <th scope="col" key={p}>
                {providerName(p)}
              </th>
            ))}
            <th scope="col">Total</th>
          </tr>
        </thead>
        <tbody>
          {active.map((d) => (
            <tr key={d.day}>
              <th scope="row">{d.day}</th>
              {providers.map((p) => (
                <td key={p}>{formatUsd(d.cost[p] ?? 0)}</td>
              ))}
              <td>{formatUsd(d.total)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

/** Theme colours from the stylesheet, so the chart follows light and dark. */
function themeColour(name: string, fallback: string): string {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

/**
 * Stacked bars drawn by Chart.js on a canvas. Chart.js, unlike chart libraries that patch
 * built-in prototypes, runs under Tauri's frozen `Object.prototype`.
 */
function CostBars({ data, providers, label }: { data: CostDay[]; providers: ProviderKind[]; label: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvas.current?.getContext("2d");
    if (!context) return; // No canvas (tests in jsdom): the table carries the numbers.
    const text = themeColour("--muted", "#5b6475");
    const grid = themeColour("--border", "#dfe3ea");
    const chart = new Chart(context, {
      type: "bar",
      data: {
        labels: data.map((d) => shortDay(d.day)),
        datasets: providers.map((p) => ({
          label: providerName(p),
          data: data.map((d) => d.cost[p] ?? 0),
          backgroundColor: PROVIDER_COLOUR[p] ?? OTHER_COLOUR,
          stack: "cost",
        })),
      },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: prefersReducedMotion() ? false : { duration: 300 },
        scales: {
          x: { stacked: true, ticks: { color: text, autoSkipPadding: 16 }, grid: { display: false } },
          y: {
            stacked: true,
            beginAtZero: true,
            ticks: { color: text, callback: (v) => axisUsd(Number(v)) },
            grid: { color: grid },
            title: { display: true, text: "USD", color: text },
          },
        },
        plugins: {
          legend: { labels: { color: text } },
          tooltip: {
            callbacks: {
              title: (items) => `${data[items[0]?.dataIndex ?? 0]?.day ?? ""} (UTC)`,
              label: (item) => `${item.dataset.label}: ${formatUsd(Number(item.raw))}`,
            },
          },
        },
      },
    });
    return () => chart.destroy();
  }, [data, providers]);
  return (
    <figure className="cost-chart" aria-label={label}>
      <div className="cost-chart-canvas">
        <canvas ref={canvas} role="img" aria-label={label} data-testid="cost-chart" />
      </div>
    </figure>
  );
}

/** Cost per provider per day as stacked bars, with the same numbers as a table. */
export function CostChart({ since, days, entries }: { since: string; days: number; entries: DayCost[] }) {
  const data = useMemo(() => costDays(since, days, entries), [since, days, entries]);
  const providers = useMemo(
    () => [...new Set(entries.map((e) => e.provider))].sort((a, b) => chainPosition(a) - chainPosition(b)),
    [entries],
  );
  const label = `Cost per provider per day over the last ${days} days, in USD`;
  if (providers.length === 0) return <p className="muted">No provider calls in this window, so nothing was spent.</p>;
  return (
    <>
      <CostBars data={data} providers={providers} label={label} />
      <CostTable days={data} providers={providers} />
    </>
  );
}
