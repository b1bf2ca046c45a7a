// The safetensors format: an 8-byte little-endian header length, a JSON header (dtype, shape and byte
// offsets of each tensor, plus a string map __metadata__), then the raw little-endian data.
// In: tensors by name and metadata. Out: bytes (or a file, atomically); and the reverse (or the
// metadata alone, from the header).

import * as fs from 'node:fs';
import { DType, dtypeInfo, fromSafetensorsCode } from '../graph/dtype.js';
import { Tensor, numel, tensorBytes, tensorFromBytes } from '../graph/tensor.js';
import { writeChunksAtomic } from './atomic.js';

export interface SafetensorsFile {
  tensors: Record<string, Tensor>;
  metadata: Record<string, string>;
}

/** Header JSON, data chunks, and total size of a safetensors encoding. */
export function encodeSafetensors(tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  const chunks: Uint8Array[] = [];
  for (const name of Object.keys(tensors)) {
    const t = tensors[name];
    const bytes = tensorBytes(t);
    header[name] = { dtype: dtypeInfo(t.dtype).safetensors, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const hb = Buffer.from(json, 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.byteLength));
  return [len, hb, ...chunks];
}

export function writeSafetensors(file: string, tensors: Record<string, Tensor>, metadata: Record<string, string> = {}): void {
  writeChunksAtomic(file, encodeSafetensors(tensors, metadata));
}

export function decodeSafetensors(buf: Uint8Array, where = '<bytes>'): SafetensorsFile {
  if (buf.byteLength < 8) throw new Error(`${where}: not a safetensors file (too short)`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(dv.getBigUint64(0, true));
  if (8 + n > buf.byteLength) throw new Error(`${where}: header length ${n} exceeds the file`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(Buffer.from(buf.buffer, buf.byteOffset + 8, n).toString('utf8'));
  } catch (e) {
    throw new Error(`${where}: bad safetensors header (${(e as Error).message})`);
  }
  const base = 8 + n;
  const tensors: Record<string, Tensor> = {};
  let metadata: Record<string, string> = {};
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') {
      metadata = e as Record<string, string>;
      continue;
    }
    const info = e as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const dtype: DType = fromSafetensorsCode(info.dtype);
    const [a, b] = info.data_offsets;
    if (base + b > buf.byteLength || b - a !== numel(info.shape) * dtypeInfo(dtype).bytes)
      throw new Error(`${where}: tensor '${name}' has bad offsets [${a}, ${b}] for ${info.dtype}[${info.shape}]`);
    tensors[name] = tensorFromBytes(dtype, info.shape, buf.subarray(base + a, base + b));
  }
  return { tensors, metadata };
}

export function readSafetensors(file: string): SafetensorsFile {
  return decodeSafetensors(fs.readFileSync(file), file);
}

/** The `__metadata__` of a safetensors file, reading only its header. */
export function readSafetensorsMetadata(file: string): Record<string, string> {
  const fd = fs.openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    if (fs.readSync(fd, len, 0, 8, 0) < 8) throw new Error(`${file}: not a safetensors file (too short)`);
    const n = Number(len.readBigUInt64LE(0));
    const header = Buffer.alloc(n);
    if (fs.readSync(fd, header, 0, n, 8) < n) throw new Error(`${file}: header length ${n} exceeds the file`);
    try {
      return (JSON.parse(header.toString('utf8')).__metadata__ ?? {}) as Record<string, string>;
    } catch (e) {
      throw new Error(`${file}: bad safetensors header (${(e as Error).message})`);
    }
  } finally {
    fs.closeSync(fd);
  }
}
