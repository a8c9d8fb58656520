/**
 * The teacher of a run, ready before its first step: its files checked against the student's (tokenizer,
 * label order; teacher-match.ts), its logits source opened (teacher.ts, with the cache when asked for), and,
 * for a sequence classifier with its own tokenizer, its logits for every row computed from its own
 * tokenization of the training rows.
 */
import { InputError } from '../errors.js';
import { isBuildableInput } from '../data/batches.js';
import type { LabelSet, Task } from '../data/examples.js';
import { type TextTokenizer, loadTokenizer } from '../data/tokenize.js';
import { maxTokens, studentMetadata } from '../params/student.js';
import { TeacherLogits, type TeacherSessionOptions, cacheKey } from './teacher.js';
import { lookupRows, teacherClassOrder, teacherLabels, teacherTokenizer } from './teacher-match.js';
import type { TrainingData } from './training-data.js';

export interface TeacherSetupOptions {
  teacher: string;
  task: Task;
  /** The student's classes (undefined for causal LMs), and where they came from, for messages. */
  labels: LabelSet | undefined;
  labelsFrom: string;
  /** The student's tokenizer.json and its id count (undefined for pre-tokenized data). */
  studentTokenizer: string | undefined;
  studentVocab: number | undefined;
  /** The teacher's graph inputs. */
  inputs: readonly string[];
  /** The student's training examples (their token digest keys the cache when the teacher shares them). */
  trainSet: TrainingData;
  /** --max-length. */
  maxLength: number;
  /** The training file's examples under another tokenizer (same rows, fields and labels). */
  teacherExamples: (tokenizer: TextTokenizer, maxLength: number) => Promise<TrainingData>;
  session: TeacherSessionOptions;
  cacheDir: string | undefined;
  /** Rows per teacher batch when it reads its own tokenization. */
  batchSize: number;
}

export interface TeacherSetup {
  logits: TeacherLogits;
  /** True when the teacher reads its own tokenization (so the student's batches need none of its inputs). */
  ownBatches: boolean;
}

/** `held` receives the logits source as soon as it is open, so that a failure after it still releases it. */
export async function openTeacher(o: TeacherSetupOptions, cb: { onInfo?: (m: string) => void }, held: (t: TeacherLogits) => void): Promise<TeacherSetup> {
  const { sidecar: side, hf } = studentMetadata(o.teacher);
  const ownTokenizer = teacherTokenizer(o.teacher, hf.dir, o.task, o.studentTokenizer, side.vocab_size ?? lookupRows(o.teacher), o.studentVocab);
  let ownSet: TrainingData | undefined;
  if (ownTokenizer) {
    const positions = maxTokens(side);
    ownSet = await o.teacherExamples(loadTokenizer(ownTokenizer, side.vocab_size), positions !== undefined ? Math.min(o.maxLength, positions) : o.maxLength);
    if (ownSet.inputsDigest === o.trainSet.inputsDigest) {
      throw new InputError(`${o.trainSet.file}: the rows are pre-tokenized (input_ids) for the student, and the teacher's tokenizer ${ownTokenizer} differs from the student's; give text rows, so each model tokenizes them its own way`);
    }
    cb.onInfo?.(`the teacher tokenizes with its own ${ownTokenizer}: its logits for the ${o.trainSet.count} rows are computed before training`);
  }
  const order = o.labels ? teacherClassOrder(o.labels, teacherLabels(side), { student: o.labelsFrom, teacher: o.teacher }) : undefined;
  if (order) cb.onInfo?.(`the teacher lists the labels in another order (${order.map((j, i) => `${o.labels!.names![i]}: teacher's ${j}`).join(', ')}); its logits are reordered to the student's`);
  const cache = o.cacheDir ? { dir: o.cacheDir, key: cacheKey({ teacher: o.teacher, inputsDigest: (ownSet ?? o.trainSet).inputsDigest, classOrder: order }) } : undefined;
  const logits = TeacherLogits.open(o.teacher, o.task !== 'seq-cls', o.session, cache, order);
  held(logits);
  if (logits.cacheHit) cb.onInfo?.(`teacher logits: using the cache in ${o.cacheDir}`);
  if (ownSet) {
    const inputs = o.inputs.filter(isBuildableInput);
    await logits.precompute(ownSet, { task: o.task, padId: side.pad_token_id ?? 0, inputs }, o.batchSize);
  }
  return { logits, ownBatches: ownSet !== undefined };
}
