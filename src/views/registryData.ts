/**
 * The registry view's data, without DOM: what a version row shows (aliases, its run and
 * that run's metrics), the code that loads a version, and the alias check the server
 * applies (so a bad alias is refused before any request).
 */
import type { IModelDetail, IVersionDetail } from '../api/lab';
import { formatNumber } from '../widgets/lib/format';
import { wireNumber } from './data';

/** MLflow's alias rule: letters, digits, `_` and `-`; not `v<digits>` nor `latest`. */
export function aliasError(alias: string): string | null {
  const text = alias.trim();
  if (!text) {
    return 'Type an alias, e.g. champion.';
  }
  if (text.length > 255) {
    return 'An alias has at most 255 characters.';
  }
  if (!/^[\w-]+$/.test(text)) {
    return 'An alias is letters, digits, _ and - only.';
  }
  if (/^[vV]\d+$/.test(text) || text.toLowerCase() === 'latest') {
    return `"${text}" is reserved (it names a version); choose another alias.`;
  }
  return null;
}

/** `mt.models.load_model("models:/<name>@<alias>")`, or by version number. */
export function loadingCode(
  name: string,
  version: string,
  alias?: string | null
): string {
  const uri = alias ? `models:/${name}@${alias}` : `models:/${name}/${version}`;
  return [
    'import jupyter_mltrack as mt',
    '',
    `model = mt.models.load_model(${JSON.stringify(uri)})`
  ].join('\n');
}

/** One row of the versions table. */
export interface IVersionRow {
  version: string;
  aliases: string[];
  runId: string | null;
  runName: string | null;
  runStatus: string | null;
  /** `key=value` of the run's latest metrics, by key. */
  metrics: string[];
  modelId: string | null;
  source: string;
  created: number;
  code: string;
}

export function versionRow(name: string, detail: IVersionDetail): IVersionRow {
  const v = detail.version;
  const metrics = Object.entries(detail.run?.metrics ?? {})
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, value]) => {
      const n = wireNumber(value);
      return `${k}=${formatNumber(n) || String(n)}`;
    });
  return {
    version: v.version,
    aliases: [...v.aliases].sort(),
    runId: v.run_id,
    runName: detail.run?.run_name ?? null,
    runStatus: detail.run?.status ?? null,
    metrics,
    modelId: v.model_id,
    source: v.source,
    created: v.creation_timestamp,
    code: loadingCode(name, v.version, v.aliases[0] ?? null)
  };
}

/** The rows of a model's versions, newest first (as the server sends them). */
export function versionRows(detail: IModelDetail): IVersionRow[] {
  return detail.versions.map(d => versionRow(detail.model.name, d));
}
