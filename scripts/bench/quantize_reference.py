#!/usr/bin/env python3
"""Reference numbers for `distill quantize`: onnxruntime's own dynamic quantizer on the same model.

  python scripts/bench/quantize_reference.py --model DIR/model.onnx --eval-file EVAL.jsonl \
      [--ours DIR/model_quantized.onnx] [--embeddings] [--out docs/quantize_reference.json] [--keep ORT.onnx]

1. The Transposes torch puts in front of every nn.Linear weight are folded into transposed initializers
   (numpy), so that quantize_dynamic sees initializer weights: it skips a MatMul whose weight is computed,
   even from a constant, and quant_pre_process's ORT optimization does not fold these Transposes
   (measured with onnxruntime 1.30).
2. quantize_dynamic(per_channel=True, weight_type=QInt8), op types MatMul + Gemm (+ Gather with
   --embeddings): int8 symmetric per-channel weights, uint8 activations quantized at run time, the same
   scheme `distill quantize` writes.
3. `distill eval --json` scores the fp32 model, onnxruntime's quantized model and ours (when --ours is
   given) on the eval file with one evaluator; the script writes accuracy, macro-F1 and bytes of each,
   and the versions used, to --out.

Needs `npm run build` first (it runs dist/src/cli/main.js).
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
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fold_weight_transposes(model: onnx.ModelProto) -> int:
    """Replaces Transpose(initializer) nodes by a transposed initializer; returns how many were folded."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    graph_inputs = {i.name for i in g.input}
    folded = 0
    for n in list(g.node):
        if n.op_type != "Transpose" or n.input[0] not in inits or n.input[0] in graph_inputs:
            continue
        perm = next((list(a.ints) for a in n.attribute if a.name == "perm"), None)
        w = numpy_helper.to_array(inits[n.input[0]])
        g.initializer.append(numpy_helper.from_array(w.transpose(perm) if perm else w.T, n.output[0]))
        g.node.remove(n)
        folded += 1
    used = {i for n in g.node for i in n.input}
    for t in [t for t in g.initializer if t.name not in used]:
        g.initializer.remove(t)
    return folded


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="fp32 model.onnx with its distill.json beside it")
    ap.add_argument("--eval-file", required=True)
    ap.add_argument("--ours", help="model_quantized.onnx written by distill quantize, scored alongside")
    ap.add_argument("--embeddings", action="store_true", help="quantize Gather tables too")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "quantize_reference.json"))
    ap.add_argument("--keep", help="also copy onnxruntime's quantized model here (e.g. for bench-quantize.mjs --extra)")
    args = ap.parse_args()

    src_dir = os.path.dirname(os.path.abspath(args.model))
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, "pre.onnx")
        model = onnx.load(args.model)
        folded = fold_weight_transposes(model)
        onnx.save(model, pre)
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
        cmd = ["node", os.path.join(ROOT, "dist", "src", "cli", "main.js"), "eval", "--eval-file", args.eval_file, "--json"]
        for m in models:
            cmd += ["--model", m]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        results = json.loads(out)["results"]
        if args.keep:
            shutil.copy(ref, args.keep)

    names = ["fp32", "onnxruntime quantize_dynamic"] + (["distill quantize"] if args.ours else [])
    summary = {
        "note": "scripts/bench/quantize_reference.py: accuracy and macro-F1 from distill eval on the same eval file; bytes of the .onnx file",
        "versions": {"onnxruntime": onnxruntime.__version__, "onnx": onnx.__version__, "python": sys.version.split()[0]},
        "settings": {"per_channel": True, "weight_type": "QInt8", "op_types": ops, "pre_process": f"{folded} weight Transposes folded into initializers"},
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
