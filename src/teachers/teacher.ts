// The interface every label source implements (oracle, OpenAI-compatible VLM, CSV). halo-label
// reads (patched) sample records, asks a Teacher for each, and adds the `labels` field.
import type { Place } from '../cli/errors.js';
import type { Labels, PatchGeometry, SampleRecord } from '../records/schemas.js';

export interface LabelRequest {
  /** The record as read (a sample record, possibly with `patches`). */
  record: SampleRecord & { patches?: PatchGeometry };
  /** Where the record came from, for error messages. */
  place: Place;
  /** The video's absolute path. */
  videoPath: string;
  /** Absolute paths of the patch storyboards, when the record has them. */
  storyboards?: string[];
  /** Whether patch labels are asked for (they need `record.patches`). */
  wantPatches: boolean;
  /** Whether video labels are asked for (default true; false with `halo-label --level patch`). */
  wantVideo?: boolean;
}

export interface Teacher {
  /** Teacher name as given to --teacher. */
  readonly name: string;
  /** Label one video (and its patches when asked). Throws HaloError/DataError naming the record. */
  label(request: LabelRequest): Promise<Labels>;
  /** Lines for the end-of-run summary on stderr (requests, tokens, cache hits, ...). */
  summary?(): string[];
  /** Release resources (servers, caches). */
  close?(): Promise<void>;
}
