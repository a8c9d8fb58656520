/**
 * Training data for `distill train`: read rows (reader), turn them into examples (examples, tokenize),
 * order and pad them into batches (batches); spam is the bundled demo corpus.
 */
export * from './reader.js';
export * from './tokenize.js';
export * from './examples.js';
export * from './batches.js';
export * from './spam.js';
