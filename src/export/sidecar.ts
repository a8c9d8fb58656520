/** The `distill.json` sidecar's type (student.ts reads the file; the browser entry point shares the type). */
import type { Task } from '../losses/distill.js';

/** The sidecar fields this code reads (format 1, docs/FIXTURES.md). */
export interface Sidecar {
  format: number;
  task?: Task;
  architecture?: string;
  model_type?: string;
  inputs?: string[];
  outputs?: string[];
  logits?: string;
  num_labels?: number | null;
  id2label?: Record<string, string> | null;
  label2id?: Record<string, number> | null;
  vocab_size?: number;
  pad_token_id?: number | null;
  max_position_embeddings?: number;
  /** ONNX initializer name -> HF state_dict name, and whether the initializer holds it transposed. */
  parameters: Record<string, { name: string; transpose: boolean }>;
  /** HF names sharing one tensor; the first is the name the `parameters` map uses. */
  tied?: string[][];
}
