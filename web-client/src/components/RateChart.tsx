// The send rate over time, drawn with uPlot (bundled by Vite) from the samples the page
// collects from its progress events. The canvas is decorative for assistive technology:
// the figure's caption says what it shows in words, and stays current.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { rateSummary, type RateSample } from '../lib/sendRate';

const HEIGHT = 180;
const MIN_SPAN_S = 10;

function chartData(samples: readonly RateSample[]): uPlot.AlignedData {
  return [samples.map((s) => s.t), samples.map((s) => s.rate)];
}

export function RateChart({ samples }: { samples: readonly RateSample[] }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  // One chart per mount, sized to its box and resized with it.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const width = () => Math.max(200, el.clientWidth);
    // The page's text colour, so the axes read in light and dark themes alike.
    const ink = getComputedStyle(el).color || '#333';
    const axis = { stroke: ink, grid: { stroke: 'rgba(128, 128, 128, 0.25)' }, ticks: { stroke: 'rgba(128, 128, 128, 0.4)' } };
    let chart: uPlot;
    try {
      chart = new uPlot(
        {
          width: width(),
          height: HEIGHT,
          legend: { show: false },
          cursor: { show: false },
          scales: {
            // At least the last ten seconds, so a few points do not spread over years.
            x: { time: true, range: (_u, min, max) => [Math.min(min, max - MIN_SPAN_S), max] },
            y: { range: (_u, _min, max) => [0, Math.max(1, max * 1.15)] },
          },
          axes: [axis, { ...axis, label: 'emails/s', size: 50 }],
          series: [{}, { label: 'Send rate', stroke: '#1f6feb', width: 2, fill: 'rgba(31, 111, 235, 0.12)' }],
        },
        chartData([]),
        el,
      );
    } catch {
      // No canvas (an old browser, or a test's DOM): the caption still says it all.
      return;
    }
    plot.current = chart;
    const observer = typeof ResizeObserver === 'undefined' ? null : new ResizeObserver(() => chart.setSize({ width: width(), height: HEIGHT }));
    observer?.observe(el);
    return () => {
      observer?.disconnect();
      chart.destroy();
      plot.current = null;
    };
  }, []);

  useEffect(() => {
    plot.current?.setData(chartData(samples));
  }, [samples]);

  return (
    <figure className="card rate-chart" aria-labelledby="rate-chart-heading">
      <h2 id="rate-chart-heading">Send rate</h2>
      <div ref={box} className="rate-chart__plot" aria-hidden="true" data-testid="rate-chart" />
      <figcaption className="muted" data-testid="rate-summary">
        {rateSummary(samples)}
      </figcaption>
    </figure>
  );
}
