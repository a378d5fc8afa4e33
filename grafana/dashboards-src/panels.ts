import {
  FieldColorModeId,
  ThresholdsMode,
  type DataQuery,
  type DataSourceRef,
  type FieldConfigSource,
  type Panel,
  type RowPanel,
} from '@grafana/schema';

/*
 * Builders for the dashboard's panels, typed by Grafana's own schema (@grafana/schema): what every panel of a kind
 * shares is written once here, and a field Grafana does not know, or of the wrong type, fails the type-check.
 */

/** Every query goes to the datasource the `datasource` variable picks (the provisioned Prometheus by default). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, resolved by Grafana, not a template literal.
export const prometheus: DataSourceRef = { type: 'prometheus', uid: '${datasource}' };

/**
 * A Prometheus query as Grafana stores it: DataQuery's fields plus the datasource's own. A type literal, not an
 * interface, because a panel's `targets` are plain records (an interface has no implicit index signature).
 */
export type PrometheusQuery = {
  readonly refId: DataQuery['refId'];
  readonly datasource: DataSourceRef;
  readonly editorMode: 'code';
  readonly expr: string;
  readonly legendFormat: string;
  readonly range: boolean;
  readonly instant: boolean;
};

/** [expr, legend]; refIds follow the order: A, B, C… */
export type Query = readonly [expr: string, legend: string];

export interface GridPos {
  readonly x: number;
  readonly y: number;
  readonly w: number;
  readonly h: number;
}

/** A threshold step above the base (green): drawn as a dashed line on time series. */
export interface Step {
  readonly color: string;
  readonly value: number;
}

export interface PanelSpec {
  readonly id: number;
  readonly title: string;
  readonly description: string;
  /** Grafana's unit id: per-second values take a rate unit (reqps, ops), never `short`. */
  readonly unit: string;
  readonly gridPos: GridPos;
  readonly queries: readonly Query[];
  readonly steps?: readonly Step[];
  readonly max?: number;
}

type Override = FieldConfigSource['overrides'][number];

export interface TimeseriesSpec extends PanelSpec {
  readonly fillOpacity?: number;
  readonly stacking?: 'none' | 'normal';
  readonly overrides?: readonly Override[];
  /** One panel per value of this variable. */
  readonly repeat?: { readonly variable: string; readonly direction: 'h' | 'v'; readonly maxPerRow: number };
}

export interface StatSpec extends PanelSpec {
  readonly mappings?: readonly NonNullable<FieldConfigSource['defaults']['mappings']>[number][];
}

function targets(queries: readonly Query[]): PrometheusQuery[] {
  return queries.map(([expr, legendFormat], index) => ({
    datasource: prometheus,
    editorMode: 'code',
    expr,
    legendFormat,
    range: true,
    instant: false,
    refId: String.fromCharCode(65 + index),
  }));
}

const thresholds = (steps: readonly Step[] = []) => ({
  mode: ThresholdsMode.Absolute,
  steps: [{ color: 'green', value: null }, ...steps],
});

export function row(id: number, title: string, y: number): RowPanel {
  return { type: 'row', id, title, collapsed: false, panels: [], gridPos: { h: 1, w: 24, x: 0, y } };
}

/** What every panel starts with: its kind, identity, the datasource and where it sits. */
function panelBase(
  type: string,
  spec: PanelSpec,
): Pick<Panel, 'type' | 'id' | 'title' | 'description' | 'datasource' | 'gridPos'> {
  const { h, w, x, y } = spec.gridPos;
  // gridPos in Grafana's own key order, so the generated JSON reads like an exported dashboard.
  return {
    type,
    id: spec.id,
    title: spec.title,
    description: spec.description,
    datasource: prometheus,
    gridPos: { h, w, x, y },
  };
}

export function timeseries(spec: TimeseriesSpec): Panel {
  const { unit, queries, steps, max, repeat } = spec;
  return {
    ...panelBase('timeseries', spec),
    fieldConfig: {
      defaults: {
        unit,
        min: 0,
        ...(max === undefined ? {} : { max }),
        color: { mode: FieldColorModeId.PaletteClassic },
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: spec.fillOpacity ?? 10,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: spec.stacking ?? 'none', group: 'A' },
          thresholdsStyle: { mode: steps?.length ? 'dashed' : 'off' },
        },
        thresholds: thresholds(steps),
      },
      overrides: [...(spec.overrides ?? [])],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true, calcs: [] },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets: targets(queries),
    ...(repeat ? { repeat: repeat.variable, repeatDirection: repeat.direction, maxPerRow: repeat.maxPerRow } : {}),
  };
}

const reduceToLast = { calcs: ['lastNotNull'], fields: '', values: false };

export function stat(spec: StatSpec): Panel {
  const { unit, queries, steps } = spec;
  return {
    ...panelBase('stat', spec),
    fieldConfig: {
      defaults: {
        unit,
        mappings: [...(spec.mappings ?? [])],
        color: { mode: FieldColorModeId.Thresholds },
        thresholds: thresholds(steps),
      },
      overrides: [],
    },
    options: {
      reduceOptions: reduceToLast,
      colorMode: 'value',
      graphMode: 'area',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: 'value_and_name',
      wideLayout: true,
    },
    targets: targets(queries),
  };
}

export function gauge(spec: PanelSpec): Panel {
  const { unit, queries, steps, max } = spec;
  return {
    ...panelBase('gauge', spec),
    fieldConfig: {
      defaults: {
        unit,
        min: 0,
        ...(max === undefined ? {} : { max }),
        color: { mode: FieldColorModeId.Thresholds },
        thresholds: thresholds(steps),
      },
      overrides: [],
    },
    options: {
      reduceOptions: reduceToLast,
      showThresholdLabels: false,
      showThresholdMarkers: true,
      orientation: 'auto',
    },
    targets: targets(queries),
  };
}

/** The series of query `refId` in one fixed colour. */
export function fixedColor(refId: string, color: string): Override {
  return {
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }],
  };
}

/** The series of query `refId` as a dashed limit line, outside any stacking. */
export function limitLine(refId: string, color: string): Override {
  return {
    matcher: { id: 'byFrameRefID', options: refId },
    properties: [
      { id: 'custom.stacking', value: { mode: 'none', group: 'A' } },
      { id: 'custom.fillOpacity', value: 0 },
      { id: 'custom.lineWidth', value: 2 },
      { id: 'custom.lineStyle', value: { fill: 'dash', dash: [10, 10] } },
      { id: 'color', value: { mode: 'fixed', fixedColor: color } },
    ],
  };
}
