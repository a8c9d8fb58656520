/**
 * The parameter plan: which initializers of a (normalized) student graph are the parameters PyTorch trains,
 * under which Hugging Face names, and what the rest are. `distill inspect --params` prints it; the builder
 * trains exactly its `parameters`; the exporter names model.safetensors' tensors by it.
 */

/** How a parameter's initializer came to be. */
export type ParameterOrigin =
  /** One initializer, as the exporter wrote it. */
  | 'as-exported'
  /** A copy made because the exporter merged this parameter with others of equal value. */
  | 'untied'
  /** Made from model.safetensors because the exporter folded it into a constant. */
  | 'rematerialized';

export interface PlannedParameter {
  /** Initializer name in the normalized graph. */
  initializer: string;
  /** The HF state_dict name, when known (from model.safetensors, a sidecar or an exporter's naming). */
  hfName: string | null;
  /** The initializer holds the HF tensor transposed (a Linear weight exported for MatMul). */
  transpose: boolean;
  shape: number[];
  /** Input slots that read it in the normalized graph (through Transpose/Slice copies for tied uses). */
  uses: number;
  origin: ParameterOrigin;
  /** Other initializers of the export that held this same parameter (copies per use, transposed copies). */
  tiedCopies: string[];
  /** HF Trainer applies weight decay to it (not to biases and normalization weights). */
  decay: boolean;
  /** The embedding row PyTorch never updates (nn.Embedding's padding_idx), or null. */
  paddingRow: number | null;
}

export interface PlannedConstant {
  name: string;
  shape: number[];
  why: string;
}

export interface ParameterPlan {
  /** Where the parameter set came from. */
  source: 'sidecar' | 'hf-files' | 'heuristics';
  parameters: PlannedParameter[];
  constants: PlannedConstant[];
  /** What could not be decided for sure, each with what to do about it. */
  warnings: string[];
  /** Graph edits made to reach one initializer per parameter, one line each. */
  edits: string[];
}
