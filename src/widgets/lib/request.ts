/**
 * The frontend half of the request channel of `MltrackWidget`
 * (`jupyter_mltrack/widgets/_base.py`): ask the kernel for data, get JSON and binary buffers.
 *
 *   view -> kernel  {type: 'request', id, method, params}
 *   kernel -> view  {type: 'response', id, result} + buffers
 *               or  {type: 'response', id, error: {code, message}}
 *
 * Shared code of the widget bundles: it lives in `src/widgets/lib/`, which the
 * `build:widgets` glob (`src/widgets/*.ts`) does not treat as an entry, and is bundled
 * into every widget that imports it.
 */
import type { AnyModel } from '@anywidget/types';

/** How long `request` waits for the kernel by default (a busy kernel answers late). */
export const DEFAULT_TIMEOUT_MS = 30_000;

export interface IRequestOptions {
  /** Reject with code `TIMEOUT` after this many ms; 0 waits forever. */
  timeoutMs?: number;
  /** Reject with code `ABORTED` when aborted, e.g. the `signal` anywidget gives `render`. */
  signal?: AbortSignal;
}

/** A successful answer: the handler's JSON result and the buffers it refers to by index. */
export interface IResponse<T> {
  result: T;
  buffers: DataView[];
}

/** Why a request failed: the kernel's error, a timeout (`TIMEOUT`) or an abort (`ABORTED`). */
export class RequestError extends Error {
  constructor(
    readonly method: string,
    readonly code: string,
    message: string
  ) {
    super(message);
    this.name = 'RequestError';
  }
}

interface IResponseMessage {
  type: 'response';
  id: number;
  result?: unknown;
  error?: { code?: string; message?: string };
}

function isResponse(msg: unknown): msg is IResponseMessage {
  return (
    typeof msg === 'object' &&
    msg !== null &&
    (msg as { type?: unknown }).type === 'response'
  );
}

// Responses reach every view of a model and every bundle has its own copy of this module,
// so ids start at a random point rather than at 0 to keep two counters from colliding.
let nextId = Math.floor(Math.random() * 2 ** 30);

/**
 * Ask the widget's kernel side for `method(**params)`.
 *
 * Resolves with the result and buffers; rejects with a `RequestError` carrying the kernel's
 * one-line message, or `TIMEOUT` / `ABORTED`. The message listener, timer and abort listener
 * are removed as soon as the request settles, whichever way.
 */
export function request<T = unknown>(
  model: AnyModel,
  method: string,
  params: Record<string, unknown> = {},
  options: IRequestOptions = {}
): Promise<IResponse<T>> {
  const { timeoutMs = DEFAULT_TIMEOUT_MS, signal } = options;
  const id = nextId++;
  return new Promise<IResponse<T>>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new RequestError(method, 'ABORTED', `'${method}' was aborted.`));
      return;
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const settle = (): void => {
      model.off('msg:custom', onMessage);
      signal?.removeEventListener('abort', onAbort);
      clearTimeout(timer);
    };
    const onMessage = (msg: unknown, buffers?: DataView[]): void => {
      if (!isResponse(msg) || msg.id !== id) {
        return;
      }
      settle();
      if (msg.error !== undefined) {
        const { code = 'INTERNAL_ERROR', message = 'Unknown error.' } =
          msg.error;
        reject(new RequestError(method, code, message));
      } else {
        resolve({ result: msg.result as T, buffers: buffers ?? [] });
      }
    };
    const onAbort = (): void => {
      settle();
      reject(new RequestError(method, 'ABORTED', `'${method}' was aborted.`));
    };
    model.on('msg:custom', onMessage);
    signal?.addEventListener('abort', onAbort);
    if (timeoutMs > 0) {
      timer = setTimeout(() => {
        settle();
        reject(
          new RequestError(
            method,
            'TIMEOUT',
            `The kernel did not answer '${method}' within ${timeoutMs / 1000} s; ` +
              'it may be busy, or restarted (then run the cell again).'
          )
        );
      }, timeoutMs);
    }
    model.send({ type: 'request', id, method, params });
  });
}

/** One decoded column: a typed array for numbers (bool as 0/1), string[] for text. */
export type Column =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array
  | (string | null)[];

/** What `encode_columns` (Python) puts in a result. */
export interface IEncodedColumns {
  length: number;
  columns: {
    name: string;
    dtype: string;
    buffer?: number;
    values?: (string | null)[];
  }[];
}

const ARRAYS = {
  float64: Float64Array,
  float32: Float32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int8: Int8Array,
  uint8: Uint8Array
} as const;

/** The columns of an `encode_columns` result as typed arrays (no copy when aligned). */
export function decodeColumns(
  encoded: IEncodedColumns,
  buffers: DataView[]
): Record<string, Column> {
  const out: Record<string, Column> = {};
  for (const column of encoded.columns) {
    if (column.values !== undefined) {
      out[column.name] = column.values;
      continue;
    }
    const ArrayType = ARRAYS[column.dtype as keyof typeof ARRAYS];
    const view = buffers[column.buffer ?? -1];
    if (ArrayType === undefined || view === undefined) {
      throw new RequestError(
        'decodeColumns',
        'INVALID_RESPONSE',
        `Column '${column.name}' (${column.dtype}) has no decodable buffer.`
      );
    }
    const size = ArrayType.BYTES_PER_ELEMENT;
    // A typed array needs an offset aligned to its element size; copy when it is not.
    const bytes =
      view.byteOffset % size === 0
        ? view.buffer
        : new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice()
            .buffer;
    const offset = view.byteOffset % size === 0 ? view.byteOffset : 0;
    out[column.name] = new ArrayType(bytes, offset, view.byteLength / size);
  }
  return out;
}
