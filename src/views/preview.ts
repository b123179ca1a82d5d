/**
 * Artifact previews through JupyterLab's own renderers (IRenderMimeRegistry): images,
 * text, markdown, JSON, HTML (sanitized: artifacts are untrusted), plotly figures (the plotly
 * JSON mimetype), notebooks (each cell and output by its mimetype) and CSV/TSV/Parquet
 * tables (decoded on the server to a JSON table, `GET .../artifact/table`, shown as an
 * HTML table).
 *
 * Page state on the preview node: `data-mltrack-preview` (loading | ready | error) and
 * `data-mltrack-mime` (the mimetype rendered).
 */
import { IRenderMimeRegistry, MimeModel } from '@jupyterlab/rendermime';

import type { IArtifactTable } from '../api/lab';
import { LabApi } from '../api/lab';
import { loadPlotly } from '../widgets/lib/plotly';
import { PLOTLY_CONFIG } from '../widgets/lib/chartSpec';
import {
  formatBytes,
  isPlotlyFigure,
  notebookParts,
  PLOTLY_MIME,
  previewKind,
  tableHtml
} from './data';

/** Files larger than this are not previewed as text (download them instead). */
export const MAX_TEXT_BYTES = 2 * 1024 * 1024;
/** Images larger than this are not previewed. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024;
/** Rows of a table preview. */
export const TABLE_ROWS = 500;

function base64(bytes: Uint8Array): string {
  let text = '';
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    text += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(text);
}

const IMAGE_MIME: Record<string, string> = {
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  bmp: 'image/bmp'
};

/** Render `bundle` with its preferred renderer into `host` (appended). */
export async function renderBundle(
  rendermime: IRenderMimeRegistry,
  host: HTMLElement,
  bundle: Record<string, unknown>,
  trusted = false
): Promise<string | null> {
  const mime = rendermime.preferredMimeType(
    bundle as never,
    trusted ? 'any' : 'prefer'
  );
  if (mime === undefined) {
    return null;
  }
  const renderer = rendermime.createRenderer(mime);
  await renderer.renderModel(new MimeModel({ data: bundle as never, trusted }));
  renderer.addClass('jp-mltrack-preview-output');
  host.append(renderer.node);
  return mime;
}

/** Preview the artifact `path` of a run into `host` (replacing what it showed). */
export async function previewArtifact(
  api: LabApi,
  rendermime: IRenderMimeRegistry,
  host: HTMLElement,
  runId: string,
  path: string,
  size: number | null
): Promise<void> {
  host.replaceChildren();
  host.dataset.mltrackPreview = 'loading';
  host.dataset.mltrackPath = path;
  delete host.dataset.mltrackMime;
  const header = document.createElement('div');
  header.className = 'jp-mltrack-preview-header';
  const link = document.createElement('a');
  link.href = api.artifactUrl(runId, path);
  link.download = path.split('/').pop() ?? path;
  link.textContent = 'Download';
  header.append(`${path} ${formatBytes(size)} `, link);
  const body = document.createElement('div');
  body.className = 'jp-mltrack-preview-body';
  host.append(header, body);
  const done = (mime: string | null): void => {
    host.dataset.mltrackMime = mime ?? '';
    host.dataset.mltrackPreview = 'ready';
  };
  try {
    const kind = previewKind(path);
    const limit = kind === 'image' ? MAX_IMAGE_BYTES : MAX_TEXT_BYTES;
    if (
      kind === 'binary' ||
      (size !== null && size > limit && kind !== 'table')
    ) {
      body.textContent =
        kind === 'binary'
          ? 'No preview for this kind of file: download it.'
          : `Too large to preview (${formatBytes(size)}): download it.`;
      done(null);
      return;
    }
    if (kind === 'table') {
      const table = await api.request<IArtifactTable>(
        `runs/${encodeURIComponent(runId)}/artifact/table`,
        { path, limit: TABLE_ROWS }
      );
      const caption =
        table.total_rows > table.rows.length
          ? `First ${table.rows.length} of ${table.total_rows} rows`
          : `${table.total_rows} rows`;
      done(
        await renderBundle(rendermime, body, {
          'text/html': tableHtml(table.columns, table.rows, caption)
        })
      );
      host.dataset.mltrackRows = String(table.rows.length);
      return;
    }
    const response = await api.artifact(runId, path);
    if (kind === 'image') {
      const bytes = new Uint8Array(await response.arrayBuffer());
      const ext = path.split('.').pop()!.toLowerCase();
      done(
        await renderBundle(rendermime, body, {
          [IMAGE_MIME[ext] ?? 'image/png']: base64(bytes)
        })
      );
      return;
    }
    const text = await response.text();
    if (kind === 'svg') {
      // JupyterLab draws SVG as an <img> (no script runs), which needs a trusted model
      done(
        await renderBundle(rendermime, body, { 'image/svg+xml': text }, true)
      );
      return;
    }
    if (kind === 'json') {
      const value = JSON.parse(text) as unknown;
      if (isPlotlyFigure(value)) {
        const mime = await renderBundle(
          rendermime,
          body,
          { [PLOTLY_MIME]: value },
          true
        );
        if (mime === PLOTLY_MIME) {
          done(mime);
          return;
        }
        // no plotly renderer in this JupyterLab: plotly.js from our server route
        body.replaceChildren();
        const plot = document.createElement('div');
        plot.className = 'jp-mltrack-preview-plotly';
        body.append(plot);
        const plotly = await loadPlotly();
        const figure = value as {
          data: Record<string, unknown>[];
          layout?: Record<string, unknown>;
        };
        await plotly.react(
          plot,
          figure.data,
          figure.layout ?? {},
          PLOTLY_CONFIG
        );
        done(PLOTLY_MIME);
        return;
      }
      done(await renderBundle(rendermime, body, { 'application/json': value }));
      return;
    }
    if (kind === 'notebook') {
      const parts = notebookParts(JSON.parse(text));
      for (const part of parts) {
        const cell = document.createElement('div');
        cell.className = `jp-mltrack-nb-${part.kind}`;
        body.append(cell);
        await renderBundle(rendermime, cell, part.bundle);
      }
      host.dataset.mltrackCells = String(parts.length);
      done('application/x-ipynb+json');
      return;
    }
    const mime =
      kind === 'html'
        ? 'text/html'
        : kind === 'markdown'
          ? 'text/markdown'
          : 'text/plain';
    done(await renderBundle(rendermime, body, { [mime]: text }));
  } catch (error) {
    body.replaceChildren();
    const message = document.createElement('div');
    message.className = 'jp-mltrack-error';
    message.textContent = `Could not preview ${path}: ${(error as Error).message}`;
    body.append(message);
    host.dataset.mltrackPreview = 'error';
  }
}
