/**
 * Typed client for the jupyter-mltrack server extension (`/mltrack/api/...`).
 *
 * Every call goes through `requestAPI`, which adds Jupyter's auth (token, XSRF) via
 * `ServerConnection` and turns a non-2xx answer into a `ServerConnection.ResponseError`
 * carrying the server's JSON message.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** URL prefix of the extension's routes, relative to the server's base URL. */
export const API_PREFIX = 'mltrack/api';

/** `GET /mltrack/api/info`: what the sidebar shows about the installation. */
export interface IServerInfo {
  /** The installed jupyter-mltrack version. */
  version: string;
  /** The store the server extension uses, e.g. `duckdb:///home/me/mltrack/store.duckdb`. */
  tracking_uri: string;
  /** Local file of a DuckDB store, or null for remote stores. */
  store_path: string | null;
}

/** Call a route of the server extension and decode its JSON answer. */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings()
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_PREFIX, endPoint);
  const response = await ServerConnection.makeRequest(url, init, settings);
  const text = await response.text();
  const data: unknown = text.length > 0 ? JSON.parse(text) : null;
  if (!response.ok) {
    const message =
      data !== null && typeof data === 'object' && 'message' in data
        ? String(data.message)
        : `HTTP ${response.status} from ${url}`;
    throw new ServerConnection.ResponseError(response, message);
  }
  return data as T;
}

/** Fetch the version and store location of the server extension. */
export function getServerInfo(
  settings?: ServerConnection.ISettings
): Promise<IServerInfo> {
  return requestAPI<IServerInfo>('info', {}, settings);
}
