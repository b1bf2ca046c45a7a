// Errors the commands raise. Only src/cli/main.ts turns them into exit codes:
// DataError / HaloError -> 1 (bad data or runtime failure), UsageError -> 2 (bad flags).

/** A failure of data or of the runtime: exit code 1. */
export class HaloError extends Error {
  readonly exitCode: number = 1;
  constructor(message: string) {
    super(message);
    this.name = 'HaloError';
  }
}

/** Bad command-line usage (unknown flag, bad flag value): exit code 2. */
export class UsageError extends HaloError {
  override readonly exitCode: number = 2;
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Where a record came from: a file (or `<stdin>`) and a 1-based line number. */
export interface Place {
  source: string;
  line?: number;
}

export function formatPlace(place: Place): string {
  return place.line === undefined ? place.source : `${place.source}:${place.line}`;
}

/** A bad record: `source:line: field: what was expected, what came`. */
export class DataError extends HaloError {
  constructor(
    readonly place: Place,
    readonly field: string | undefined,
    readonly detail: string,
  ) {
    super(`${formatPlace(place)}: ${field ? `${field}: ` : ''}${detail}`);
    this.name = 'DataError';
  }
}
