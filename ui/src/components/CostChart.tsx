import { Bar, BarChart, CartesianGrid, Legend, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { DayCost } from "../bindings/DayCost";
import type { ProviderId } from "../bindings/ProviderId";
import { chainPosition, formatUsd, providerName } from "../format";

/** Okabe–Ito colours: told apart with every common colour-vision deficiency, on light and dark. */
const PROVIDER_COLOUR: Record<ProviderId, string> = {
  sns: "#E69F00",
  twilio: "#0072B2",
  console: "#CC79A7",
  ses: "#009E73",
  sendgrid: "#56B4E9",
  smtp: "#D55E00",
};
const OTHER_COLOUR = "#999999";

export interface CostDay {
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  cost: Partial<Record<ProviderId, number>>;
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

function CostTable({ days, providers }: { days: CostDay[]; providers: ProviderId[] }) {
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

/** Cost per provider per day as stacked bars, with the same numbers as a table. */
export function CostChart({ since, days, entries }: { since: string; days: number; entries: DayCost[] }) {
  const data = costDays(since, days, entries);
  const providers = [...new Set(entries.map((e) => e.provider))].sort((a, b) => chainPosition(a) - chainPosition(b));
  const label = `Cost per provider per day over the last ${days} days, in USD`;
  if (providers.length === 0) return <p className="muted">No provider calls in this window, so nothing was spent.</p>;
  return (
    <>
      <figure className="cost-chart" aria-label={label}>
        {/* The initial size lets the chart draw before (or without) a ResizeObserver measuring it. */}
        <ResponsiveContainer width="100%" height={260} initialDimension={{ width: 800, height: 260 }}>
          <BarChart data={data} title={label} margin={{ top: 8, right: 8, bottom: 0, left: 8 }}>
            <CartesianGrid vertical={false} />
            <XAxis dataKey="day" tickFormatter={shortDay} minTickGap={16} />
            <YAxis tickFormatter={axisUsd} width={64} label={{ value: "USD", angle: -90, position: "insideLeft" }} />
            <Tooltip
              formatter={(value) => formatUsd(Number(value))}
              labelFormatter={(day) => `${day} (UTC)`}
              contentStyle={{ background: "var(--panel)", border: "1px solid var(--border)", borderRadius: 6 }}
            />
            <Legend itemSorter={null} />
            {providers.map((p) => (
              <Bar
                key={p}
                dataKey={(d: CostDay) => d.cost[p] ?? 0}
                name={providerName(p)}
                stackId="cost"
                fill={PROVIDER_COLOUR[p] ?? OTHER_COLOUR}
                isAnimationActive={!prefersReducedMotion()}
              />
            ))}
          </BarChart>
        </ResponsiveContainer>
      </figure>
      <CostTable days={data} providers={providers} />
    </>
  );
}
