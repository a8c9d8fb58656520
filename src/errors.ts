/**
 * Typed errors. Library code throws these; only `cli/` turns them into one-line messages and exit codes.
 * Every message names the place (file, field, node) and, where it can, what to do about it.
 */
export class DistillError extends Error {
  /** Process exit code the CLI uses for this kind of failure. */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = new.target.name;
    this.exitCode = exitCode;
  }
}

/** Input the user gave us is unusable: missing file, corrupt model, bad option. Exit code 2. */
export class InputError extends DistillError {
  constructor(message: string) {
    super(message, 2);
  }
}

/** A model file could not be read or decoded. */
export class ModelFormatError extends InputError {}

/** The graph has a structure we cannot work with (e.g. an op without a gradient rule). */
export class GraphError extends DistillError {
  constructor(message: string) {
    super(message, 3);
  }
}
