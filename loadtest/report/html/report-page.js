// The HTML report's charts (see ../html-report.ts, which inlines this file after uPlot and the run's data).
// Plain browser JavaScript, no network: everything it needs is in the page.
(() => {
  'use strict';
  var result = JSON.parse(document.getElementById('loadtest-data').textContent);
  var ts = result.timeSeries;
  var server = ts.server;

  // Counts per interval to rates: the intervals are about a second, the last one shorter.
  function perSecond(counts) {
    return counts.map((n, i) => {
      var seconds = ts.t[i] - (i === 0 ? 0 : ts.t[i - 1]);
      return seconds > 0 ? n / seconds : null;
    });
  }
  function statusColor(key, i) {
    if (/^2/.test(key)) return ['#2ca02c', '#98df8a'][i % 2];
    if (/^3/.test(key)) return '#17becf';
    if (/^4/.test(key)) return ['#ff7f0e', '#ffbb78', '#bcbd22'][i % 3];
    if (/^5/.test(key)) return ['#d62728', '#ff9896'][i % 2];
    return '#9467bd';
  }
  var statusKeys = Object.keys(ts.statuses).sort();
  var charts = [
    {
      id: 'chart-rate',
      title: 'Requests and errors per second',
      x: ts.t,
      unit: 'per second',
      series: [
        { label: 'requests/s', values: perSecond(ts.requests), color: '#1f77b4' },
        { label: 'errors/s', values: perSecond(ts.errors), color: '#d62728' },
      ],
    },
    {
      id: 'chart-latency',
      title: 'Latency (ms)',
      x: ts.t,
      unit: 'ms',
      series: [
        { label: 'p50', values: ts.p50Ms, color: '#2ca02c' },
        { label: 'p95', values: ts.p95Ms, color: '#ff7f0e' },
        { label: 'p99', values: ts.p99Ms, color: '#d62728' },
      ],
    },
    {
      id: 'chart-status',
      title: 'Status mix per second',
      x: ts.t,
      unit: 'per second',
      series: statusKeys.map((key, i) => ({
        label: key,
        values: perSecond(ts.statuses[key]),
        color: statusColor(key, i),
      })),
    },
    {
      id: 'chart-pool',
      title: 'Pool connections (all workers)',
      x: server.t,
      unit: 'connections',
      series: [
        { label: 'used', values: server.used, color: '#1f77b4', fill: 'rgba(31,119,180,0.15)' },
        { label: 'max', values: server.max, color: '#7f7f7f', dash: [6, 4] },
        { label: 'pending', values: server.pending, color: '#d62728' },
      ],
    },
    {
      id: 'chart-mysql',
      title: 'MySQL Threads_connected vs budget',
      x: server.t,
      unit: 'connections',
      series: [
        {
          label: 'Threads_connected',
          values: server.threadsConnected,
          color: '#9467bd',
          fill: 'rgba(148,103,189,0.15)',
        },
        { label: 'budget', values: server.budget, color: '#d62728', dash: [6, 4] },
      ],
    },
  ];

  var width = Math.max(480, Math.min(1180, document.documentElement.clientWidth - 48));
  charts.forEach((chart) => {
    var target = document.getElementById(chart.id);
    if (chart.x.length === 0) {
      target.textContent = `${chart.title}: no samples${result.server.lastScrapeError ? ` (${result.server.lastScrapeError})` : ''}`;
      target.className += ' empty';
      return;
    }
    var options = {
      title: chart.title,
      width: width,
      height: 240,
      scales: { x: { time: false } },
      axes: [{ label: 'seconds since the start' }, { label: chart.unit }],
      series: [{ label: 's' }].concat(
        chart.series.map((s) => ({
          label: s.label,
          stroke: s.color,
          fill: s.fill,
          dash: s.dash,
          width: 2,
          spanGaps: false,
          points: { size: 5 },
        })),
      ),
    };
    new uPlot(options, [chart.x].concat(chart.series.map((s) => s.values)), target);
  });

  // For the Chromium test: what each chart plotted, once the browser has painted.
  window.loadtestReport = {
    rendered: false,
    charts: charts.map((chart) => ({
      id: chart.id,
      title: chart.title,
      series: chart.series.map((s) => ({
        label: s.label,
        points: s.values.filter((v) => v !== null && v !== undefined).length,
      })),
    })),
  };
  requestAnimationFrame(() => {
    window.loadtestReport.rendered = true;
  });
})();
