// One Chart.js line chart. Only the pieces used are registered, so the bundle carries no other
// chart types. Chart.js 4 injects no <style> elements (the v2 stylesheet injection is gone); it
// sizes the canvas through element.style (CSSOM), which a Content-Security-Policy without
// 'unsafe-inline' allows. The box's size comes from .chart-box in styles.css.
import {
  CategoryScale,
  Chart,
  Legend,
  LineController,
  LineElement,
  LinearScale,
  PointElement,
  Tooltip,
} from "chart.js";
import type { ChartConfiguration } from "chart.js";
import { useEffect, useRef } from "react";

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend);

// Distinguishable on light and dark backgrounds (mid-tone, contrast >= 3:1 on both).
const PALETTE = ["#2f7ed8", "#d9480f", "#2b8a3e", "#ae3ec9", "#e67700", "#0c8599", "#c2255c", "#5c7cfa"];

export interface LineSeries {
  label: string;
  data: (number | null)[];
}

export interface LineChartProps {
  /** What the chart shows, for screen readers (the canvas itself is an image). */
  title: string;
  labels: string[];
  series: LineSeries[];
  yTitle: string;
  /** Upper bound of the y axis (100 for percentages). */
  yMax?: number;
}

function cssColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

function config(props: LineChartProps): ChartConfiguration<"line", (number | null)[], string> {
  const text = cssColor("--chart-text", "#444");
  const grid = cssColor("--chart-grid", "rgba(128,128,128,0.25)");
  return {
    type: "line",
    data: {
      labels: props.labels,
      datasets: props.series.map((s, i) => {
        const color = PALETTE[i % PALETTE.length] ?? "#2f7ed8";
        return {
          label: s.label,
          data: s.data,
          borderColor: color,
          backgroundColor: color,
          borderWidth: 2,
          pointRadius: 0,
          pointHitRadius: 6,
          spanGaps: false,
          tension: 0.2,
        };
      }),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false, // polled every 15 s: redraw at once, spend no CPU on tweens
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { color: text, maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { color: grid } },
        y: {
          beginAtZero: true,
          ...(props.yMax !== undefined ? { suggestedMax: props.yMax } : {}),
          title: { display: true, text: props.yTitle, color: text },
          ticks: { color: text, precision: 0 },
          grid: { color: grid },
        },
      },
      plugins: {
        legend: { position: "bottom", labels: { color: text, boxWidth: 12 } },
        tooltip: { enabled: true },
      },
    },
  };
}

export function LineChart(props: LineChartProps) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const chart = useRef<Chart<"line", (number | null)[], string> | null>(null);
  const propsRef = useRef(props);
  propsRef.current = props;

  useEffect(() => {
    if (!canvas.current) {
      return;
    }
    chart.current = new Chart(canvas.current, config(propsRef.current));
    const scheme = window.matchMedia?.("(prefers-color-scheme: dark)");
    const recolor = () => {
      if (chart.current) {
        chart.current.options = config(propsRef.current).options ?? {};
        chart.current.update("none");
      }
    };
    scheme?.addEventListener?.("change", recolor);
    return () => {
      scheme?.removeEventListener?.("change", recolor);
      chart.current?.destroy();
      chart.current = null;
    };
  }, []); // created once; the effect below updates it

  useEffect(() => {
    const current = chart.current;
    if (!current) {
      return;
    }
    const next = config(props);
    current.data = next.data;
    current.options = next.options ?? {};
    current.update("none");
  }, [props]);

  const summary = props.series.length
    ? `${props.title}: ${props.series.map((s) => s.label).join(", ")}`
    : `${props.title}: no data`;
  return (
    <div className="chart-box">
      <canvas ref={canvas} role="img" aria-label={summary}>
        {summary}
      </canvas>
    </div>
  );
}
