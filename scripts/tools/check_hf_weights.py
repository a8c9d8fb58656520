#!/usr/bin/env python3
"""Check an HF export of onnx-distill in PyTorch: the proof that `exportHfWeights` wrote a checkpoint
that Hugging Face loads, with the weights of the exported ONNX model.

  python scripts/tools/check_hf_weights.py OUT_DIR FIXTURE_DIR

OUT_DIR     what the TypeScript export wrote: model.safetensors (exportHfWeights), config.json (copied;
            else FIXTURE_DIR's is used) and the ONNX model (exportStudent) at OUT_DIR/onnx/model.onnx or
            OUT_DIR/model.onnx.
FIXTURE_DIR the student it came from (config.json, model.onnx, distill.json), e.g. models/gpt2-student.

Checks, each one fails the script (exit 1):
  1. `<Architecture>.from_pretrained(dir, output_loading_info=True)` reports no missing, unexpected or
     mismatched keys and no errors (the architecture is config.json's `architectures[0]`); tied weights
     (config.tie_word_embeddings) share storage after loading.
  2. Every HF parameter equals the exported ONNX model's initializer through the sidecar map (undoing
     `transpose`), bit for bit.
  3. PyTorch logits of the loaded model equal onnxruntime's on the exported ONNX model to < 1e-5, on two
     padded batches (3x8 and 2x13, seeded ids).
It also prints how far the exported weights and logits are from FIXTURE_DIR's model.onnx (so a check
that passed because nothing was changed shows up as a zero).

`node --test dist/test/export-hf-weights.test.js` runs it for bert-student and gpt2-student, on exports whose
weights it perturbed (+0.01 * seeded noise), when DISTILL_HF_CHECK names a Python that has
scripts/requirements.txt installed: DISTILL_HF_CHECK=python3 node --test dist/test/export-hf-weights.test.js
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import numpy_helper
from safetensors import safe_open

TOLERANCE = 1e-5


def fail(msg: str) -> None:
    print(f"FAIL: {msg}")
    sys.exit(1)


def sidecar_for(onnx_path: str) -> dict:
    base = os.path.basename(onnx_path)[: -len(".onnx")]
    name = "distill.json" if base == "model" else f"{base}.distill.json"
    with open(os.path.join(os.path.dirname(onnx_path), name), encoding="utf-8") as f:
        return json.load(f)


def batches(vocab: int, pad: int):
    g = torch.Generator().manual_seed(4321)
    for b, s in ((3, 8), (2, 13)):
        ids = torch.randint(5, vocab, (b, s), generator=g)
        am = torch.ones(b, s, dtype=torch.int64)
        for row in range(1, b):  # right padding, shorter rows after the first
            am[row, s - 2 * row:] = 0
            ids[row, s - 2 * row:] = pad
        yield ids, am


def main() -> None:
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    out_dir, fixture_dir = sys.argv[1], sys.argv[2]
    onnx_path = next((p for p in (os.path.join(out_dir, "onnx", "model.onnx"), os.path.join(out_dir, "model.onnx"))
                      if os.path.isfile(p)), None)
    if onnx_path is None:
        fail(f"{out_dir}: no onnx/model.onnx or model.onnx")
    if not os.path.isfile(os.path.join(out_dir, "model.safetensors")):
        fail(f"{out_dir}: no model.safetensors")

    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        # from_pretrained reads a folder: config.json + model.safetensors, nothing else.
        shutil.copy(os.path.join(out_dir, "model.safetensors"), tmp)
        cfg = os.path.join(out_dir, "config.json")
        shutil.copy(cfg if os.path.isfile(cfg) else os.path.join(fixture_dir, "config.json"), tmp)
        config = transformers.AutoConfig.from_pretrained(tmp)
        arch = config.architectures[0]
        cls = getattr(transformers, arch)
        model, info = cls.from_pretrained(tmp, output_loading_info=True, attn_implementation="eager",
                                          dtype=torch.float32)
    problems = {k: v for k, v in info.items() if v}
    if problems:
        fail(f"from_pretrained({arch}) loading info: {problems}")
    model.eval()
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False
    with safe_open(os.path.join(out_dir, "model.safetensors"), "pt") as f:
        stored = list(f.keys())
        metadata = f.metadata()
    tied_ok = "n/a"
    if getattr(config, "tie_word_embeddings", False) and model.get_output_embeddings() is not None:
        same = model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
        if not same:
            fail("tie_word_embeddings is set but the output and input embeddings do not share storage")
        tied_ok = "shared"

    # 2. weights against the exported ONNX initializers through the sidecar map
    side = sidecar_for(onnx_path)
    proto = onnx.load(onnx_path)
    inits = {i.name: numpy_helper.to_array(i) for i in proto.graph.initializer}
    params = dict(model.named_parameters(remove_duplicate=False))
    groups = {g[0]: g for g in side.get("tied") or []}
    checked = set()
    for init, m in side["parameters"].items():
        a = inits[init].T if m["transpose"] else inits[init]
        for name in groups.get(m["name"], [m["name"]]):
            p = params[name].detach().numpy()
            if p.shape != a.shape or not np.array_equal(p, a):
                fail(f"HF parameter {name} differs from initializer {init}")
            checked.add(name)
    if checked != set(params):
        fail(f"parameters not covered by the sidecar: {sorted(set(params) - checked)}")
    base = onnx.load(os.path.join(fixture_dir, "model.onnx"))
    base_inits = {i.name: numpy_helper.to_array(i) for i in base.graph.initializer}
    weight_change = max(float(np.abs(inits[k] - base_inits[k]).max()) for k in side["parameters"] if k in base_inits)

    # 3. logits: PyTorch (from_pretrained) vs onnxruntime (exported ONNX), and vs the original fixture
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    orig = ort.InferenceSession(os.path.join(fixture_dir, "model.onnx"), so, providers=["CPUExecutionProvider"])
    torch.set_num_threads(1)
    diff = 0.0
    moved = 0.0
    pad = config.pad_token_id if getattr(config, "pad_token_id", None) is not None else 0
    for ids, am in batches(int(config.vocab_size), int(pad)):
        with torch.no_grad():
            pt = model(input_ids=ids, attention_mask=am).logits.numpy()
        feeds = {"input_ids": ids.numpy(), "attention_mask": am.numpy()}
        rt = sess.run(["logits"], feeds)[0]
        diff = max(diff, float(np.abs(pt - rt).max()))
        moved = max(moved, float(np.abs(rt - orig.run(["logits"], feeds)[0]).max()))
    if not diff < TOLERANCE:
        fail(f"PyTorch vs onnxruntime logits differ by {diff:.3g} (>= {TOLERANCE})")
    print(f"OK {arch}: from_pretrained strict (no missing/unexpected/mismatched keys); {len(stored)} tensors stored "
          f"for {len(params)} named parameters (tied: {tied_ok}); metadata {metadata}; weights equal the "
          f"exported ONNX initializers; max|logits PyTorch - ORT| = {diff:.3g} (< {TOLERANCE}); "
          f"exported vs fixture: max|dweight| = {weight_change:.3g}, max|dlogits| = {moved:.3g}")


if __name__ == "__main__":
    main()
