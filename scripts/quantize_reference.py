#!/usr/bin/env python3
"""Reference numbers for `distill quantize`: onnxruntime's own dynamic quantizer on the same model.

  python scripts/quantize_reference.py --model DIR/model.onnx --eval-file EVAL.jsonl \
      [--ours DIR/model_quantized.onnx] [--embeddings] [--out docs/quantize_reference.json]

1. quant_pre_process (onnxruntime.quantization.shape_inference) folds the constant Transposes torch puts
   in front of every nn.Linear weight, so that quantize_dynamic sees initializer weights (it skips MatMuls
   whose weight is computed, even when it is a constant expression).
2. quantize_dynamic(per_channel=True, weight_type=QInt8), op types MatMul + Gemm (+ Gather with
   --embeddings): int8 symmetric per-channel weights, uint8 activations quantized at run time, the same
   scheme `distill quantize` writes.
3. `distill eval --json` scores the fp32 model, onnxruntime's quantized model and ours (when --ours is
   given) on the eval file with one evaluator; the script writes accuracy, macro-F1 and bytes of each,
   and the versions used, to --out.

Needs `npm run build` first (it runs build/src/cli/main.js).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import onnx
import onnxruntime
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.shape_inference import quant_pre_process

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="fp32 model.onnx with its distill.json beside it")
    ap.add_argument("--eval-file", required=True)
    ap.add_argument("--ours", help="model_quantized.onnx written by distill quantize, scored alongside")
    ap.add_argument("--embeddings", action="store_true", help="quantize Gather tables too")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "quantize_reference.json"))
    args = ap.parse_args()

    src_dir = os.path.dirname(os.path.abspath(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(args.model, pre, skip_symbolic_shape=True)
        ref = os.path.join(tmp, "model_ort_quantized.onnx")
        ops = ["MatMul", "Gemm"] + (["Gather"] if args.embeddings else [])
        quantize_dynamic(pre, ref, op_types_to_quantize=ops, per_channel=True, weight_type=QuantType.QInt8)
        # distill eval reads the task and labels from the sidecar named after the model file.
        shutil.copy(os.path.join(src_dir, "distill.json"), os.path.join(tmp, "model_ort_quantized.distill.json"))
        shutil.copy(os.path.join(src_dir, "tokenizer.json"), os.path.join(tmp, "tokenizer.json"))
        ref_ops: dict[str, int] = {}
        for n in onnx.load(ref).graph.node:
            ref_ops[n.op_type] = ref_ops.get(n.op_type, 0) + 1

        models = [args.model, ref] + ([args.ours] if args.ours else [])
        cmd = ["node", os.path.join(ROOT, "build", "src", "cli", "main.js"), "eval", "--eval-file", args.eval_file, "--json"]
        for m in models:
            cmd += ["--model", m]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results = json.loads(out)["results"]

    names = ["fp32", "onnxruntime quantize_dynamic"] + (["distill quantize"] if args.ours else [])
    summary = {
        "note": "scripts/quantize_reference.py: accuracy and macro-F1 from distill eval on the same eval file; bytes of the .onnx file",
        "versions": {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "python": sys.version.split()[0]},
        "settings": {"per_channel": True, "weight_type": "QInt8", "op_types": ops, "pre_process": "quant_pre_process(skip_symbolic_shape=True)"},
        "eval_examples": results[0]["examples"],
        "onnxruntime_ops": {k: ref_ops[k] for k in sorted(ref_ops) if k in ("DynamicQuantizeLinear", "MatMulInteger", "DequantizeLinear", "Gather", "MatMul", "Gemm")},
        "models": [
            {"name": name, "accuracy": r["metrics"]["accuracy"], "macro_f1": r["metrics"]["f1"], "bytes": r["size"]["bytes"]}
            for name, r in zip(names, results)
        ],
    }
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
