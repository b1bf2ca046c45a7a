// Host tensors: a dtype, a static shape and a typed array, plus small helpers to make and read them.
// In: shapes and numbers. Out: Tensor values used for constants, parameters, feeds and results.

import { DType, TypedArray, dtypeInfo } from './dtype.js';

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TypedArray;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor(dtype: DType, shape: number[], values?: ArrayLike<number> | ArrayLike<bigint> | TypedArray): Tensor {
  const n = numel(shape);
  const info = dtypeInfo(dtype);
  let data: TypedArray;
  if (values === undefined) data = new info.array(n);
  else if (ArrayBuffer.isView(values) && values.constructor === info.array) data = values as TypedArray;
  else {
    data = new info.array(n);
    if (values.length !== n) throw new Error(`tensor: ${values.length} values for shape [${shape}] (${n} elements)`);
    if (dtype === 'int64') for (let i = 0; i < n; i++) (data as BigInt64Array)[i] = BigInt(values[i] as number | bigint);
    else for (let i = 0; i < n; i++) (data as Float64Array)[i] = Number(values[i]);
  }
  if (data.length !== n) throw new Error(`tensor: ${data.length} values for shape [${shape}] (${n} elements)`);
  return { dtype, shape: [...shape], data };
}

export function scalarTensor(dtype: DType, value: number): Tensor {
  return tensor(dtype, [], [value]);
}

export function int64Tensor(values: number[], shape: number[] = [values.length]): Tensor {
  return tensor('int64', shape, values.map((v) => BigInt(v)));
}

/** Values as JS numbers (int64 converted with Number). */
export function toNumbers(t: Tensor): number[] {
  return Array.from(t.data as ArrayLike<number | bigint>, (v) => Number(v));
}

/** Little-endian bytes of the tensor data (a view when possible). */
export function tensorBytes(t: Tensor): Uint8Array {
  if (t.dtype === 'bool') return Uint8Array.from(t.data as Uint8Array, (v) => (v ? 1 : 0));
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** A tensor over a copy of little-endian bytes. */
export function tensorFromBytes(dtype: DType, shape: number[], bytes: Uint8Array): Tensor {
  const info = dtypeInfo(dtype);
  const n = numel(shape);
  if (bytes.byteLength !== n * info.bytes)
    throw new Error(`tensorFromBytes: ${bytes.byteLength} bytes for ${dtype}[${shape}] (expected ${n * info.bytes})`);
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  const data = new info.array(0).constructor as unknown as new (b: ArrayBuffer, o: number, n: number) => TypedArray;
  return { dtype, shape: [...shape], data: new data(copy.buffer, 0, n) };
}

export function cloneTensor(t: Tensor): Tensor {
  return { dtype: t.dtype, shape: [...t.shape], data: t.data.slice() as TypedArray };
}

export function shapeKey(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
