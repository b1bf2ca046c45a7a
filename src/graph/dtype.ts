// Element types of the IR: names, ONNX enum codes, typed-array constructors, byte sizes.
// In: a DType name or an ONNX TensorProto.DataType code. Out: the matching facts.

export type DType = 'float32' | 'float64' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8' | 'float16';

export type TypedArray =
  | Float32Array
  | Float64Array
  | BigInt64Array
  | Int32Array
  | Uint8Array
  | Int8Array
  | Uint16Array;

interface DTypeInfo {
  onnx: number;
  bytes: number;
  array: new (n: number) => TypedArray;
  float: boolean;
  safetensors: string;
}

const INFO: Record<DType, DTypeInfo> = {
  float32: { onnx: 1, bytes: 4, array: Float32Array, float: true, safetensors: 'F32' },
  uint8: { onnx: 2, bytes: 1, array: Uint8Array, float: false, safetensors: 'U8' },
  int8: { onnx: 3, bytes: 1, array: Int8Array, float: false, safetensors: 'I8' },
  int32: { onnx: 6, bytes: 4, array: Int32Array, float: false, safetensors: 'I32' },
  int64: { onnx: 7, bytes: 8, array: BigInt64Array, float: false, safetensors: 'I64' },
  bool: { onnx: 9, bytes: 1, array: Uint8Array, float: false, safetensors: 'BOOL' },
  float16: { onnx: 10, bytes: 2, array: Uint16Array, float: true, safetensors: 'F16' },
  float64: { onnx: 11, bytes: 8, array: Float64Array, float: true, safetensors: 'F64' },
};

export const DTYPES = Object.keys(INFO) as DType[];

export function dtypeInfo(dtype: DType): DTypeInfo {
  const info = INFO[dtype];
  if (!info) throw new Error(`unknown dtype '${dtype}'`);
  return info;
}

export function isFloat(dtype: DType): boolean {
  return dtypeInfo(dtype).float;
}

export function onnxCode(dtype: DType): number {
  return dtypeInfo(dtype).onnx;
}

export function fromOnnxCode(code: number): DType {
  for (const d of DTYPES) if (INFO[d].onnx === code) return d;
  throw new Error(`unsupported ONNX element type ${code}`);
}

export function fromSafetensorsCode(code: string): DType {
  for (const d of DTYPES) if (INFO[d].safetensors === code) return d;
  throw new Error(`unsupported safetensors dtype '${code}'`);
}
