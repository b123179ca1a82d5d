import { describe, expect, it } from 'vitest';
import { ServerConnection } from '@jupyterlab/services';

import { LabApi, LabApiError } from '../../src/api/lab';
import type { IModelDetail } from '../../src/api/lab';
import {
  aliasError,
  loadingCode,
  versionRows
} from '../../src/views/registryData';

const settings = ServerConnection.makeSettings({
  baseUrl: 'http://host/base/'
});

function version(
  v: string,
  aliases: string[] = [],
  runId: string | null = 'r1'
) {
  return {
    name: 'churn model',
    version: v,
    creation_timestamp: 1000 * Number(v),
    last_updated_timestamp: 1000 * Number(v),
    description: '',
    source: `models:/m-${v}`,
    run_id: runId,
    model_id: `m-${v}`,
    status: 'READY',
    tags: {},
    aliases,
    user_id: 'u',
    run_link: ''
  };
}

const detail: IModelDetail = {
  model: {
    name: 'churn model',
    creation_timestamp: 1,
    last_updated_timestamp: 2,
    description: 'd',
    tags: {},
    aliases: { champion: '1' },
    latest_versions: []
  },
  versions: [
    { version: version('2', [], null), run: null, code: '' },
    {
      version: version('1', ['champion']),
      run: {
        run_id: 'r1',
        run_name: 'train',
        status: 'FINISHED',
        experiment_id: '1',
        metrics: { loss: 'NaN', acc: 0.91 }
      },
      code: ''
    }
  ]
};

describe('registry view data', () => {
  it('rows link each version to its run and that run metrics', () => {
    const rows = versionRows(detail);
    expect(rows.map(r => r.version)).toEqual(['2', '1']);
    expect(rows[0]).toMatchObject({ runId: null, runName: null, metrics: [] });
    expect(rows[1]).toMatchObject({
      runId: 'r1',
      runName: 'train',
      aliases: ['champion'],
      modelId: 'm-1'
    });
    expect(rows[1].metrics[0]).toMatch(/^acc=0\.91/);
    expect(rows[1].metrics[1]).toBe('loss=NaN');
    expect(rows[1].code).toContain(
      'mt.models.load_model("models:/churn model@champion")'
    );
    expect(rows[0].code).toContain('"models:/churn model/2"');
  });

  it('loading code quotes the URI as a Python string', () => {
    expect(loadingCode('a"b', '3')).toContain('load_model("models:/a\\"b/3")');
    expect(loadingCode('m', '3', 'prod').split('\n')[0]).toBe(
      'import jupyter_mltrack as mt'
    );
  });

  it('refuses the aliases the server refuses, saying why', () => {
    expect(aliasError('champion')).toBeNull();
    expect(aliasError('blue-green_2')).toBeNull();
    expect(aliasError('')).toMatch(/Type an alias/);
    expect(aliasError('has space')).toMatch(/letters, digits/);
    expect(aliasError('v3')).toMatch(/reserved/);
    expect(aliasError('latest')).toMatch(/reserved/);
    expect(aliasError('x'.repeat(256))).toMatch(/255/);
  });
});

describe('LabApi registry routes', () => {
  it('encodes names and aliases in the path and sends the version', async () => {
    const asked: [string, RequestInit][] = [];
    const api = new LabApi(settings, async (url, init) => {
      asked.push([url, init]);
      return new Response(JSON.stringify(detail), { status: 200 });
    });
    await api.model('churn model');
    await api.setAlias('churn model', 'champion', '2');
    await api.deleteAlias('churn model', 'champion');
    await api.models({ filter: "name LIKE '%c%'" });
    await api.runModels('r1');
    const paths = asked.map(([url, init]) => [
      init.method ?? 'GET',
      new URL(url).pathname
    ]);
    expect(paths).toEqual([
      ['GET', '/base/mltrack/api/lab/models/churn%20model'],
      ['PUT', '/base/mltrack/api/lab/models/churn%20model/aliases/champion'],
      ['DELETE', '/base/mltrack/api/lab/models/churn%20model/aliases/champion'],
      ['GET', '/base/mltrack/api/lab/models'],
      ['GET', '/base/mltrack/api/lab/runs/r1/models']
    ]);
    expect(JSON.parse(String(asked[1][1].body))).toEqual({ version: '2' });
    expect(new URL(asked[3][0]).searchParams.get('filter')).toBe(
      "name LIKE '%c%'"
    );
  });

  it('a missing version is a LabApiError with the server message', async () => {
    const api = new LabApi(
      settings,
      async () =>
        new Response(
          JSON.stringify({
            error_code: 'RESOURCE_DOES_NOT_EXIST',
            message: 'No version 9 of churn'
          }),
          { status: 404 }
        )
    );
    const error = await api.setAlias('churn', 'x', '9').catch(e => e);
    expect(error).toBeInstanceOf(LabApiError);
    expect(error.status).toBe(404);
    expect(error.message).toBe('No version 9 of churn');
  });
});
