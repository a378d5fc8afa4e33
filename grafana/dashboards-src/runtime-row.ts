import type { Panel, RowPanel } from '@grafana/schema';
import { row, timeseries } from './panels.js';

/** The "Node runtime per worker" row and its panels. */
export const runtimeRow: (Panel | RowPanel)[] = [
  row(23, 'Node runtime per worker', 79),
  timeseries({
    id: 24,
    title: 'Event-loop lag p99',
    description:
      "How late each process's event loop runs (the primary included). Sustained lag above ~100 ms delays every request of that worker; a worker whose lag climbs until its series stop is stuck (ClusterWorkerMissingFromScrape).",
    unit: 's',
    gridPos: { x: 0, y: 80, w: 8, h: 8 },
    queries: [
      [
        'max by (instance, worker) (nodejs_eventloop_lag_p99_seconds{instance=~"$instance", worker=~"$worker|primary"})',
        'worker {{worker}} {{instance}}',
      ],
    ],
    steps: [{ color: 'orange', value: 0.1 }],
  }),
  timeseries({
    id: 25,
    title: 'CPU per process',
    description:
      'CPU time per second (1 = 100% of one core) of each worker and the primary. Workers pinned at 1 are CPU-bound (password hashing at login, or a loop); add CPUs/replicas or lower WORKERS to the core count.',
    unit: 'percentunit',
    gridPos: { x: 8, y: 80, w: 8, h: 8 },
    queries: [
      [
        'sum by (instance, worker) (rate(process_cpu_seconds_total{instance=~"$instance", worker=~"$worker|primary"}[$__rate_interval]))',
        'worker {{worker}} {{instance}}',
      ],
    ],
  }),
  timeseries({
    id: 26,
    title: 'Memory: RSS and heap used',
    description:
      'Resident memory and V8 heap in use per process. Steady growth that ends in a restart is a leak or an OOM kill (check the restarts panel and `dmesg`).',
    unit: 'bytes',
    gridPos: { x: 16, y: 80, w: 8, h: 8 },
    queries: [
      [
        'sum by (instance, worker) (process_resident_memory_bytes{instance=~"$instance", worker=~"$worker|primary"})',
        'RSS worker {{worker}} {{instance}}',
      ],
      [
        'sum by (instance, worker) (nodejs_heap_size_used_bytes{instance=~"$instance", worker=~"$worker|primary"})',
        'heap worker {{worker}} {{instance}}',
      ],
    ],
  }),
  timeseries({
    id: 27,
    title: 'Worker restarts (last 15 minutes)',
    description:
      'Times each worker slot died and was restarted by the primary over the last 15 minutes (each restart is also an annotation). A slot that restarts in every 10 minutes for 15 minutes raises ClusterWorkerRestarting; the app logs say why ("worker died; restarting"). 0 is normal.',
    unit: 'short',
    gridPos: { x: 0, y: 88, w: 12, h: 8 },
    queries: [
      [
        'sum by (instance, worker) (increase(cluster_worker_restarts_total{instance=~"$instance", worker=~"$worker"}[15m]))',
        'worker {{worker}} {{instance}}',
      ],
    ],
    steps: [{ color: 'red', value: 1 }],
  }),
  timeseries({
    id: 28,
    title: 'Missed metrics scrapes (per minute)',
    description:
      "Times a worker did not answer the primary's metrics request within 1 s, over the last minute. Missing every minute for 2 minutes pages (ClusterWorkerMissingFromScrape): its event loop is stuck and the requests routed to it hang. 0 is normal.",
    unit: 'short',
    gridPos: { x: 12, y: 88, w: 12, h: 8 },
    queries: [
      [
        'sum by (instance, worker) (increase(cluster_scrape_failures_total{instance=~"$instance", worker=~"$worker"}[1m]))',
        'worker {{worker}} {{instance}}',
      ],
    ],
    steps: [{ color: 'red', value: 1 }],
  }),
];
