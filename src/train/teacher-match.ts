/**
 * What the teacher's files must agree on with the student's: the token ids (the teacher is fed the
 * student's batches) and the meaning of each logit column.
 *
 * Which teacher class each student class is. The KD term compares the two softmaxes column by column, so a
 * teacher whose config lists the same labels in another order (a re-saved or re-trained model) would teach
 * each class the wrong one, silently. Label names decide: the same names in another order give a
 * reordering of the teacher's logits; different names are an error. HF's placeholder names (LABEL_0, ...)
 * and models without names say nothing about meaning, so those keep the index order.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { InputError } from '../errors.js';
import { type LabelSet, type Task, labelSet } from '../data/examples.js';
import type { studentMetadata } from '../params/student.js';
import { loadModel } from '../onnx/model-io.js';

/** What a teacher's files say about it (its sidecar, completed from its config.json). */
type TeacherSidecar = ReturnType<typeof studentMetadata>['sidecar'];

const PLACEHOLDER = /^LABEL_\d+$/;

const meaningful = (names: readonly string[] | null | undefined): names is readonly string[] =>
  Boolean(names?.length) && !names!.every((n) => PLACEHOLDER.test(n));

/**
 * For each student class i, the teacher column that holds it; undefined when the order is the same (or
 * nothing names the classes on one side).
 */
export function teacherClassOrder(student: LabelSet, teacher: LabelSet | undefined, where: { student: string; teacher: string }): number[] | undefined {
  if (!teacher || !meaningful(student.names) || !meaningful(teacher.names)) return undefined;
  const s = student.names;
  const t = teacher.names;
  const list = (names: readonly string[]) => names.join(', ');
  if (s.length !== t.length || s.some((n) => !t.includes(n))) {
    throw new InputError(`${where.teacher}: the teacher's labels (${list(t)}) are not the student's (${list(s)}, from ${where.student}); distill from a teacher trained on the same labels, or pass the student's names in the teacher's order with --labels`);
  }
  const order = s.map((n) => t.indexOf(n));
  return order.every((j, i) => j === i) ? undefined : order;
}

/** Logits [..., C] with the last axis reordered: out[..., i] = logits[..., order[i]]. */
export function reorderClasses(logits: Float32Array, order: readonly number[]): Float32Array {
  const C = order.length;
  const out = new Float32Array(logits.length);
  for (let r = 0; r < logits.length; r += C) for (let i = 0; i < C; i++) out[r + i] = logits[r + order[i]!]!;
  return out;
}

/** The teacher's label names from what its files say (studentMetadata's sidecar), when it has a label set. */
export function teacherLabels(sidecar: TeacherSidecar): LabelSet | undefined {
  if (sidecar.task === 'causal-lm' || (sidecar.id2label == null && sidecar.label2id == null)) return undefined;
  try {
    return labelSet(sidecar);
  } catch {
    return undefined; // a malformed label map says nothing about order; the width check still applies
  }
}

/** tokenizer.json as far as token ids go: padding, truncation, the decoder and the format version are left out. */
function tokenizerIdentity(file: string): string {
  const json = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  for (const k of ['padding', 'truncation', 'decoder', 'version']) delete json[k];
  return JSON.stringify(json);
}

/**
 * The tokenizer the teacher needs of its own, or undefined when the student's batches suit it. A token-level
 * teacher reads the student's batches position by position, so its tokenizer (the tokenizer.json beside it
 * or in its HF folder) must give the same ids. A sequence classifier's logits are one row per text, so a
 * teacher with another tokenizer (a RoBERTa teacher for a BERT student) gets its own tokenization of the
 * same rows: its tokenizer file is returned. A teacher without a tokenizer file shares the student's.
 */
export function teacherTokenizer(teacher: string, hfDir: string, task: Task, studentTokenizer: string | undefined, teacherVocab?: number, studentVocab?: number): string | undefined {
  const own = [path.dirname(teacher), hfDir].map((d) => path.join(d, 'tokenizer.json')).find((f) => fs.existsSync(f));
  if (own && studentTokenizer && path.resolve(own) !== path.resolve(studentTokenizer)) {
    let same: boolean;
    try {
      same = tokenizerIdentity(own) === tokenizerIdentity(studentTokenizer);
    } catch (e) {
      throw new InputError(`${own}: cannot read the teacher's tokenizer (${(e as Error).message})`);
    }
    if (!same && task === 'seq-cls') return own;
    if (!same) {
      throw new InputError(`${own}: the teacher's tokenizer differs from the student's (${studentTokenizer}); a ${task} teacher is compared with the student token by token, so distill from a teacher that uses the student's tokenizer`);
    }
  }
  if (teacherVocab !== undefined && studentVocab !== undefined && teacherVocab < studentVocab) {
    throw new InputError(`${teacher}: the teacher's vocabulary has ${teacherVocab} tokens, fewer than the student's tokenizer ids (${studentVocab}); the teacher must read the student's token ids`);
  }
  return undefined;
}

/**
 * Rows of the table the model looks `input_ids` up in (its vocabulary), read from the graph: for a teacher
 * without a config.json that states vocab_size. Undefined when no Gather reads input_ids from an initializer.
 */
export function lookupRows(file: string): number | undefined {
  const g = loadModel(file, { loadExternalData: false }).model.graph;
  const tables = new Map((g?.initializer ?? []).map((t) => [t.name, t]));
  for (const node of g?.node ?? []) {
    if (node.opType !== 'Gather' || node.input[1] !== 'input_ids') continue;
    const dims = tables.get(node.input[0] ?? '')?.dims;
    if (dims?.length === 2) return Number(dims[0]);
  }
  return undefined;
}
