import { describe, expect, it } from 'vitest';

import {
  LabApi,
  LabApiError,
  parseEvent,
  queryString
} from '../../src/api/lab';
import { ServerConnection } from '@jupyterlab/services';
import { loadRunCode, sourceOf } from '../../src/sidebar/actions';
import { runIdsOf } from '../../src/commands';

const settings = ServerConnection.makeSettings({
  baseUrl: 'http://host/base/'
});

/** A server answering from a table of routes; records what was asked. */
function server(routes: Record<string, [number, unknown]>) {
  const asked: string[] = [];
  const fetcher = async (url: string, init: RequestInit): Promise<Response> => {
    asked.push(`${init.method ?? 'GET'} ${url}`);
    const path = new URL(url).pathname;
    const [status, body] = routes[path] ?? [
      404,
      { error_code: 'ENDPOINT_NOT_FOUND', message: 'no' }
    ];
    return new Response(JSON.stringify(body), { status });
  };
  return { api: new LabApi(settings, fetcher), asked };
}

describe('LabApi', () => {
  it('builds URLs under the base URL with repeated parameters', async () => {
    const { api, asked } = server({
      '/base/mltrack/api/lab/runs': [200, { runs: [] }]
    });
    await api.runs({
      experiment_ids: ['1', '2'],
      filter: "params.lr = '0.1'",
      order_by: ['metrics.acc DESC'],
      columns: ['metrics.acc'],
      top_level: true
    });
    const url = new URL(asked[0].split(' ')[1]);
    expect(url.pathname).toBe('/base/mltrack/api/lab/runs');
    expect(url.searchParams.getAll('experiment_ids')).toEqual(['1', '2']);
    expect(url.searchParams.get('filter')).toBe("params.lr = '0.1'");
    expect(url.searchParams.get('top_level')).toBe('true');
    expect(url.searchParams.has('parent_run_id')).toBe(false);
  });

  it('turns error answers into LabApiError with the filter position', async () => {
    const reply = {
      error_code: 'INVALID_PARAMETER_VALUE',
      message: 'Expected a number at position 13',
      error_class: 'InvalidFilter',
      details: { position: 13 }
    };
    const { api } = server({ '/base/mltrack/api/lab/runs': [400, reply] });
    const error = await api.runs({ experiment_ids: ['1'] }).catch(e => e);
    expect(error).toBeInstanceOf(LabApiError);
    expect(error.status).toBe(400);
    expect(error.position).toBe(13);
    expect(error.message).toBe(reply.message);
  });

  it('reports a non-JSON error by its status', async () => {
    const api = new LabApi(
      settings,
      async () => new Response('<html>', { status: 502 })
    );
    const error = await api.experiments().catch(e => e);
    expect(error.message).toBe('HTTP 502 from experiments');
    expect(error.position).toBeNull();
  });

  it('sends PATCH bodies as JSON', async () => {
    let body = '';
    const api = new LabApi(settings, async (_url, init) => {
      body = String(init.body);
      return new Response('{}', { status: 200 });
    });
    await api.patchRun('a/b', { run_name: 'x' });
    expect(JSON.parse(body)).toEqual({ run_name: 'x' });
  });

  it('reads change events from a server-sent event stream', async () => {
    const chunks = [
      ': hello\n\n',
      'event: change\ndata: {"version":1,',
      '"subscribers":2,"error":null}\n\n',
      ': keep-alive\n\n'
    ];
    const api = new LabApi(settings, async () => {
      const stream = new ReadableStream({
        start(controller) {
          for (const c of chunks) {
            controller.enqueue(new TextEncoder().encode(c));
          }
          controller.close();
        }
      });
      return new Response(stream, { status: 200 });
    });
    const events: unknown[] = [];
    await api.listen(e => events.push(e), new AbortController().signal);
    expect(events).toEqual([{ version: 1, subscribers: 2, error: null }]);
  });
});

describe('helpers', () => {
  it('parses only change events', () => {
    expect(parseEvent(': comment')).toBeNull();
    expect(parseEvent('event: other\ndata: {}')).toBeNull();
    expect(parseEvent('event: change\ndata: {"version":3}')).toEqual({
      version: 3
    });
  });

  it('leaves out null and undefined query values', () => {
    expect(queryString({ a: null, b: undefined, c: ['x', 'y'], d: 0 })).toBe(
      '?c=x&c=y&d=0'
    );
  });

  it('writes code that loads a run, quoting the id', () => {
    expect(loadRunCode('abc"d')).toContain('mt.get_run("abc\\"d")');
  });

  it('finds the notebook and cell a run came from', () => {
    const run = (tags: Record<string, string>) =>
      ({ data: { tags } }) as unknown as Parameters<typeof sourceOf>[0];
    expect(sourceOf(run({}))).toBeNull();
    expect(
      sourceOf(
        run({
          'mltrack.notebook.path': 'a/b.ipynb',
          'mltrack.cell.id': 'c1',
          'mltrack.cell.execution_count': '4'
        })
      )
    ).toEqual({ path: 'a/b.ipynb', cellId: 'c1', executionCount: 4 });
  });

  it('reads run ids from command args', () => {
    expect(runIdsOf({ runIds: ['a', 1, 'b'] })).toEqual(['a', 'b']);
    expect(runIdsOf({ runId: 'x' })).toEqual(['x']);
    expect(runIdsOf({})).toEqual([]);
  });
});
