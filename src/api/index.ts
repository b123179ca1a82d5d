/**
 * Typed client for the jupyter-mltrack server extension (`/mltrack/api/...`).
 *
 * Every call goes through `requestAPI`, which adds Jupyter's auth (token, XSRF) via
 * `ServerConnection` and turns a non-2xx answer into a `ServerConnection.ResponseError`
 * carrying the server's JSON message. The store API (`/mltrack/api/v1/...`) is the one the
 * store service speaks (docs/service-design.md). Its entity shapes (`IExperiment`, `IRun`,
 * ...) are generated from `jupyter_mltrack/entities.py` into `types.generated.ts`
 * (`python -m jupyter_mltrack._schema_ts`); only the shapes of this extension's own routes
 * are written here.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type { IExperiment, IRun } from './types.generated';

export type * from './types.generated';

/** URL prefix of the extension's routes, relative to the server's base URL. */
export const API_PREFIX = 'mltrack/api';

/** Who serves a DuckDB store right now (from its lock file). */
export interface IStoreOwner {
  /** `jupyter` (a Jupyter server), `service` (the store service) or `direct`. */
  kind: string | null;
  pid: number;
  /** True when this Jupyter server is the owner. */
  this_server: boolean;
}

/** `GET /mltrack/api/info`: what the sidebar shows about the installation. */
export interface IServerInfo {
  /** The installed jupyter-mltrack version. */
  version: string;
  /** The store the server extension uses, e.g. `duckdb:///home/me/mltrack/store.duckdb`. */
  tracking_uri: string;
  /** Local file of a DuckDB store, or null for remote stores. */
  store_path: string | null;
  /** Path of the store API under the server's base URL (`/mltrack/api/v1`). */
  api_base: string;
  /** The process serving a DuckDB store, or null (remote store, or nobody serves it yet). */
  store_owner: IStoreOwner | null;
}

/** What the sidebar lists: active experiments and the most recent runs among them. */
export interface IStoreSnapshot {
  experiments: IExperiment[];
  /** Newest first. */
  runs: IRun[];
}

/** Query parameters; an array value repeats the parameter. */
export type Query = Record<string, string | number | string[] | undefined>;

function queryString(query: Query): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined) {
        params.append(name, String(item));
      }
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Call a route of the server extension and decode its JSON answer. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  query: Query = {}
): Promise<T> {
  const url =
    URLExt.join(settings.baseUrl, API_PREFIX, endPoint) + queryString(query);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  let data: unknown;
  try {
    data = text.length > 0 ? JSON.parse(text) : null;
  } catch {
    data = null; // e.g. an HTML error page from a proxy: reported by status below
  }
  if (!response.ok) {
    const message =
      data !== null && typeof data === 'object' && 'message' in data
        ? String(data.message)
        : `HTTP ${response.status} from ${url}`;
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}

/** Fetch the version, store location and store owner of the server extension. */
export function getServerInfo(
  settings?: ServerConnection.ISettings
): Promise<IServerInfo> {
  return requestAPI<IServerInfo>('info', {}, settings);
}

/** `GET /mltrack/api/v1/experiments`: the active experiments. */
export async function listExperiments(
  settings?: ServerConnection.ISettings
): Promise<IExperiment[]> {
  const answer = await requestAPI<{ experiments: IExperiment[] }>(
    'v1/experiments',
    {},
    settings
  );
  return answer.experiments;
}

/** `GET /mltrack/api/v1/runs`: the newest `maxResults` active runs of some experiments. */
export async function searchRuns(
  experimentIds: string[],
  maxResults: number,
  settings?: ServerConnection.ISettings
): Promise<IRun[]> {
  if (experimentIds.length === 0) {
    return [];
  }
  const answer = await requestAPI<{ runs: IRun[] }>('v1/runs', {}, settings, {
    experiment_ids: experimentIds,
    max_results: maxResults
  });
  return answer.runs;
}

/** The experiments and the `maxRuns` most recent runs of the store. */
export async function getStoreSnapshot(
  maxRuns: number,
  settings?: ServerConnection.ISettings
): Promise<IStoreSnapshot> {
  const experiments = await listExperiments(settings);
  const ids = experiments.map(e => e.experiment_id);
  return { experiments, runs: await searchRuns(ids, maxRuns, settings) };
}
