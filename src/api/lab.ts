/**
 * Client of the JupyterLab API (`/mltrack/api/lab/...`, docs/jupyterlab.md). Shapes come
 * from `lab.generated.ts` (generated from the server's OpenAPI document). Errors become
 * `LabApiError`, which keeps the server's `error_code` and, for a filter, the 0-based
 * `position` of the offending text.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import type {
  IArtifactList,
  IChangeEvent,
  IColumnsReply,
  IErrorReply,
  IExperimentsReply,
  IFeedStats,
  IModelDetail,
  IModelsPage,
  IModelsQuery,
  IRunDetail,
  IRunModels,
  IRunPatch,
  IRunsCount,
  IRunsPage,
  IRunsQuery,
  ISeriesQuery,
  ISeriesReply
} from './lab.generated';

export type * from './lab.generated';
export type * from './types.generated';

/** Path of the JupyterLab API under the server's base URL. */
export const LAB_API_PATH = 'mltrack/api/lab';

/** An error answer of the API. */
export class LabApiError extends Error {
  constructor(
    readonly status: number,
    readonly reply: IErrorReply
  ) {
    super(reply.message);
    this.name = 'LabApiError';
  }

  /** For a filter error: where in the filter text (0-based), else null. */
  get position(): number | null {
    const position = this.reply.details?.['position'];
    return typeof position === 'number' ? position : null;
  }
}

type QueryValue = string | number | boolean | string[] | null | undefined;

/** `?a=1&b=x&b=y` (arrays repeat their parameter; null and undefined are left out). */
export function queryString(query: Record<string, QueryValue>): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    for (const item of Array.isArray(value) ? value : [value]) {
      if (item !== undefined && item !== null) {
        params.append(name, String(item));
      }
    }
  }
  const text = params.toString();
  return text ? `?${text}` : '';
}

/** Something that sends requests: `ServerConnection.makeRequest` in JupyterLab. */
export type Fetcher = (url: string, init: RequestInit) => Promise<Response>;

/** The JupyterLab API of one server. */
export class LabApi {
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
    private readonly _fetch: Fetcher = (url, init) =>
      ServerConnection.makeRequest(url, init, settings)
  ) {}

  /** The absolute URL of a route (e.g. for an `<img src>` of an artifact). */
  url(path: string, query: Record<string, QueryValue> = {}): string {
    return (
      URLExt.join(this.settings.baseUrl, LAB_API_PATH, path) +
      queryString(query)
    );
  }

  async request<T>(
    path: string,
    query: Record<string, QueryValue> = {},
    init: RequestInit = {}
  ): Promise<T> {
    const response = await this._fetch(this.url(path, query), init);
    const text = await response.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null; // e.g. a proxy's HTML page: reported by status below
    }
    if (!response.ok) {
      const reply =
        data !== null && typeof data === 'object' && 'message' in data
          ? (data as IErrorReply)
          : ({
              error_code: 'HTTP_ERROR',
              message: `HTTP ${response.status} from ${path}`
            } as IErrorReply);
      throw new LabApiError(response.status, reply);
    }
    return data as T;
  }

  experiments(viewType = 'ACTIVE_ONLY'): Promise<IExperimentsReply> {
    return this.request('experiments', { view_type: viewType });
  }

  runs(query: IRunsQuery): Promise<IRunsPage> {
    return this.request('runs', runsQueryParams(query));
  }

  count(query: IRunsQuery): Promise<IRunsCount> {
    return this.request('runs/count', runsQueryParams(query));
  }

  columns(experimentIds: string[]): Promise<IColumnsReply> {
    return this.request('columns', { experiment_ids: experimentIds });
  }

  run(runId: string): Promise<IRunDetail> {
    return this.request(`runs/${encodeURIComponent(runId)}`);
  }

  patchRun(runId: string, patch: IRunPatch): Promise<IRunDetail> {
    return this.request(
      `runs/${encodeURIComponent(runId)}`,
      {},
      { method: 'PATCH', body: JSON.stringify(patch) }
    );
  }

  artifacts(runId: string, path = ''): Promise<IArtifactList> {
    return this.request(`runs/${encodeURIComponent(runId)}/artifacts`, {
      path
    });
  }

  /** URL of an artifact file's bytes (content type from its name). */
  artifactUrl(runId: string, path: string): string {
    return this.url(`runs/${encodeURIComponent(runId)}/artifact`, { path });
  }

  /** An artifact file's bytes, with the server's errors as `LabApiError`. */
  async artifact(runId: string, path: string): Promise<Response> {
    const response = await this._fetch(this.artifactUrl(runId, path), {});
    if (!response.ok) {
      const reply = (await response.json()) as IErrorReply;
      throw new LabApiError(response.status, reply);
    }
    return response;
  }

  series(query: ISeriesQuery): Promise<ISeriesReply> {
    return this.request('series', { ...query });
  }

  /** One page of registered models, by name. */
  models(query: Partial<IModelsQuery> = {}): Promise<IModelsPage> {
    return this.request('models', { ...query });
  }

  /** A registered model with its versions, each with its run and metrics. */
  model(name: string): Promise<IModelDetail> {
    return this.request(`models/${encodeURIComponent(name)}`);
  }

  /** Point `alias` of model `name` at `version`; the model as it is then. */
  setAlias(
    name: string,
    alias: string,
    version: string
  ): Promise<IModelDetail> {
    return this.request(
      `models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
      {},
      { method: 'PUT', body: JSON.stringify({ version }) }
    );
  }

  /** Delete `alias` of model `name`. */
  deleteAlias(name: string, alias: string): Promise<IModelDetail> {
    return this.request(
      `models/${encodeURIComponent(name)}/aliases/${encodeURIComponent(alias)}`,
      {},
      { method: 'DELETE' }
    );
  }

  /** The models a run logged and the registered versions made from it. */
  runModels(runId: string): Promise<IRunModels> {
    return this.request(`runs/${encodeURIComponent(runId)}/models`);
  }

  feedStats(): Promise<IFeedStats> {
    return this.request('changes/stats');
  }

  /**
   * Listen to `GET /changes` (server-sent events) until `signal` aborts; `onEvent` gets
   * every change event. Resolves when the stream ends (the caller reconnects).
   */
  async listen(
    onEvent: (event: IChangeEvent) => void,
    signal: AbortSignal
  ): Promise<void> {
    const response = await this._fetch(this.url('changes'), { signal });
    if (!response.ok || response.body === null) {
      throw new Error(`The change stream answered HTTP ${response.status}.`);
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        return;
      }
      buffer += decoder.decode(value, { stream: true });
      let end = buffer.indexOf('\n\n');
      while (end >= 0) {
        const event = parseEvent(buffer.slice(0, end));
        if (event !== null) {
          onEvent(event);
        }
        buffer = buffer.slice(end + 2);
        end = buffer.indexOf('\n\n');
      }
    }
  }
}

/** The query parameters of a runs view. */
export function runsQueryParams(q: IRunsQuery): Record<string, QueryValue> {
  return {
    experiment_ids: q.experiment_ids,
    filter: q.filter,
    order_by: q.order_by,
    view_type: q.view_type,
    offset: q.offset,
    limit: q.limit,
    columns: q.columns,
    top_level: q.top_level,
    parent_run_id: q.parent_run_id
  };
}

/** One server-sent event block's `change` data, or null (comments, other events). */
export function parseEvent(block: string): IChangeEvent | null {
  let name = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line.startsWith('event:')) {
      name = line.slice(6).trim();
    } else if (line.startsWith('data:')) {
      data.push(line.slice(5).trimStart());
    }
  }
  if (name !== 'change' || data.length === 0) {
    return null;
  }
  return JSON.parse(data.join('\n')) as IChangeEvent;
}
