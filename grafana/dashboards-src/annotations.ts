import type { AnnotationQuery, DataQuery } from '@grafana/schema';
import { prometheus } from './panels.js';

/*
 * Events drawn on every time series: reloads, worker restarts and failovers, from the primary's counters. Grafana's
 * Prometheus annotations turn each sample >= 1 into an event, so the queries use changes() (whole numbers), not
 * increase() (extrapolated, often fractional).
 */

interface PrometheusAnnotationTarget extends DataQuery {
  readonly expr: string;
  readonly interval: string;
}

/** Grafana's annotation query plus the fields its Prometheus datasource reads for the event's title and text. */
export interface PrometheusAnnotation extends AnnotationQuery<PrometheusAnnotationTarget> {
  readonly expr: string;
  readonly step: string;
  readonly titleFormat: string;
  readonly textFormat: string;
  readonly tagKeys: string;
  readonly useValueForTime: boolean;
}

function prometheusAnnotation(
  name: string,
  iconColor: string,
  expr: string,
  titleFormat: string,
  tagKeys: string,
): PrometheusAnnotation {
  return {
    name,
    datasource: prometheus,
    enable: true,
    hide: false,
    iconColor,
    target: { refId: 'Anno', expr, interval: '1m' },
    expr,
    step: '1m',
    titleFormat,
    textFormat: '{{instance}}',
    tagKeys,
    useValueForTime: false,
  };
}

/** Grafana's own annotations and alerts, as every new dashboard has them. */
const builtIn: AnnotationQuery = {
  builtIn: 1,
  datasource: { type: 'grafana', uid: '-- Grafana --' },
  enable: true,
  hide: true,
  iconColor: 'rgba(0, 211, 255, 1)',
  name: 'Annotations & Alerts',
  type: 'dashboard',
};

export const annotations: AnnotationQuery[] = [
  builtIn,
  prometheusAnnotation(
    'Reloads (SIGHUP)',
    'blue',
    'sum by (instance, outcome) (changes(cluster_reloads_total{instance=~"$instance"}[1m])) > 0',
    'Reload {{outcome}}',
    'outcome',
  ),
  prometheusAnnotation(
    'Worker restarts',
    'red',
    'sum by (instance, worker) (changes(cluster_worker_restarts_total{instance=~"$instance"}[1m])) > 0',
    'Worker {{worker}} restarted',
    'worker',
  ),
  prometheusAnnotation(
    'Failovers',
    'orange',
    'sum by (instance) (changes(db_failovers_seen_total{instance=~"$instance"}[1m])) > 0',
    'Failover: another server takes writes',
    'instance',
  ),
];
