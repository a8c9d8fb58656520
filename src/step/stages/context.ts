/**
 * What the stages of the step graph (step-graph.ts) share: the graph being rewritten, its builder, the options,
 * and the interface inputs the first stage adds. Each stage is a function of this context and the previous
 * stages' results, in its own module.
 */
import { InputError } from '../../errors.js';
import type { Builder } from '../../ir/builder.js';
import type { Model } from '../../ir/convert.js';
import type { Graph, TensorType, Value } from '../../ir/graph.js';
import type { DataType } from '../../onnx/dtype.js';
import type { StepGraphOptions } from '../step-graph.js';

export interface StepContext {
  model: Model;
  g: Graph;
  /** Adds the step's own nodes (prefix 'step/'). */
  b: Builder;
  opset: number;
  options: StepGraphOptions;
  /** The student's logits output. */
  student: Value;
  /** The student's inputs as named in its graph (input_ids, attention_mask, ...). */
  studentInputs: string[];
  floatType: DataType;
  /** The step's interface inputs besides parameters and state. */
  io: {
    labels: Value;
    teacher?: Value;
    alpha: Value;
    temperature: Value;
    lr: Value;
    step: Value;
    maxGradNorm: Value;
    /** With gradient accumulation: true on the micro-batch that closes a window. */
    apply?: Value;
  };
  /** Micro-batches per optimizer step. */
  accumulation: number;
}

const taken = (name: string) => new InputError(`the student model already has a value named '${name}'; rename it before building`);

/** Adds an interface input, with a message that tells the user what to rename when the name is taken. */
export function addInput(g: Graph, name: string, type: TensorType): Value {
  if (g.get(name)) throw taken(name);
  return g.addInput(name, type);
}

/** Renames a value to an interface name, with the same message when the name is taken. */
export function rename(g: Graph, v: Value, name: string): Value {
  if (g.get(name)) throw taken(name);
  return g.rename(v, name);
}
