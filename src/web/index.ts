/**
 * onnx-distill/web: training in a web page on onnxruntime-web (docs/BROWSER.md). No Node.js APIs; the page
 * imports onnxruntime-web itself and passes the module in.
 *
 *   import * as ort from 'onnxruntime-web/wasm';
 *   import { WebTrainer, urlSource } from 'onnx-distill/web';
 *   const trainer = await WebTrainer.open({ ort, source: urlSource('/my-artifacts/'), ep: 'wasm' });
 *   const result = await trainer.train(await trainer.examples('train.jsonl'), { epochs: 2 });
 */
export { WebTrainer, type OpenOptions, type RunOptions, type RunResult, type StepInfo } from './trainer.js';
export { type FileSource, copyToOpfs, fileListSource, opfsSource, readText, urlSource } from './source.js';
export { type CheckpointStore, defaultStore, indexedDbStore, opfsStore } from './checkpoints.js';
export { type Ort, GpuValidationError, WEB_PROVIDERS, type WebProvider } from './session.js';
export { estimateFit, type FitEstimate, WASM_HEAP_BYTES } from './fit.js';
export { WEB_FILES, artifactFiles, parseJsonl, readWebManifest } from './artifacts.js';
export { trainedModel, trainedSafetensors } from './export.js';
