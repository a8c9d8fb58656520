#!/usr/bin/env python3
"""PyTorch autograd references for the TypeScript autodiff parity tests.

  python scripts/reference_grads.py [FIXTURE ...]     (default: every folder of models/ with a config.json)

For every eval-mode ONNX file of a fixture folder (per its sidecar: model.onnx, model.dynamo.onnx;
train-mode files are skipped) writes <basename>.ref.safetensors next to it, computed with the HF
model rebuilt from config.json + the ONNX initializers (export_hf.load_hf_from_onnx: weights
through the sidecar's `parameters` map; eval mode, eager attention, float32):

  input_ids       int64  [3, 8]   torch.Generator().manual_seed(0); randint(1, vocab, (3, 8))
  attention_mask  int64  [3, 8]   row 1: last 3 positions 0, row 2: last 5 positions 0
                                   (input_ids there set to pad_token_id = 0)
  labels          int64           seq-cls   [3]     randint(0, C, (3,)) from the same generator
                                   token-cls [3, 8]  randint(0, C, (3, 8)), -100 where mask == 0
                                   causal-lm [3, 7]  input_ids[:, 1:], -100 where mask[:, 1:] == 0
  logits          float32         model output ([3, C], [3, 8, C], [3, 8, vocab])
  loss            float32 []      mean cross-entropy over counted (label != -100) entries
                                   (causal-lm: logits[:, :-1] against the shifted labels)
  grad/<init>     float32         d loss / d parameter for every ONNX initializer that maps to an
                                   HF parameter, in the initializer's layout (transposed when the
                                   sidecar says "transpose": true; a tied parameter's gradient is
                                   the sum over its uses, stored once under its one initializer)

Metadata: one key `onnx_distill`, JSON {format, task, onnx, batch, seq, ort_max_abs_diff,
fp32_vs_fp64_max_abs, fp32_vs_fp64_max_rel}.  The float32 autograd numbers are the reference; the
gradients are also computed from a float64 copy of the model (model.double()) only to measure how
far float32 is from exact (not stored):
  fp32_vs_fp64_max_abs  max |grad32 - grad64| over all elements of all gradients
  fp32_vs_fp64_max_rel  max over gradient tensors of max|grad32 - grad64| / max|grad64|, skipping
                        tensors whose exact gradient is 0 (max|grad64| <= 1e-12: the key biases,
                        softmax shift invariance; they hold round-off only)

The script checks that onnxruntime running the ONNX file on the same batch reproduces `logits`
(prints the max abs diff, fails at >= 1e-4).
"""
from __future__ import annotations

import copy
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_hf  # noqa: E402

MODELS = os.path.join(os.path.dirname(HERE), "models")
BATCH, SEQ = 3, 8
PAD_TAIL = {1: 3, 2: 5}  # row -> number of padded positions at the end
TOLERANCE = 1e-4
ZERO_GRAD = 1e-12  # max|grad64| at or below this: mathematically zero gradient (round-off only)


def make_batch(task: str, vocab_size: int, num_labels: int | None, pad_id: int):
    g = torch.Generator().manual_seed(0)
    input_ids = torch.randint(1, vocab_size, (BATCH, SEQ), generator=g, dtype=torch.int64)
    attention_mask = torch.ones((BATCH, SEQ), dtype=torch.int64)
    for row, n in PAD_TAIL.items():
        attention_mask[row, SEQ - n:] = 0
        input_ids[row, SEQ - n:] = pad_id
    if task == "seq-cls":
        labels = torch.randint(0, num_labels, (BATCH,), generator=g, dtype=torch.int64)
    elif task == "token-cls":
        labels = torch.randint(0, num_labels, (BATCH, SEQ), generator=g, dtype=torch.int64)
        labels[attention_mask == 0] = -100
    elif task == "causal-lm":
        labels = input_ids[:, 1:].clone()
        labels[attention_mask[:, 1:] == 0] = -100
    else:
        raise ValueError(task)
    return input_ids, attention_mask, labels


def loss_fn(task: str, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    if task == "seq-cls":
        return F.cross_entropy(logits, labels)
    if task == "token-cls":
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100)
    if task == "causal-lm":
        shifted = logits[:, :-1, :]
        return F.cross_entropy(shifted.reshape(-1, shifted.shape[-1]), labels.reshape(-1), ignore_index=-100)
    raise ValueError(task)


def forward_backward(model, task, input_ids, attention_mask, labels):
    model.eval()
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
    loss = loss_fn(task, logits, labels)
    loss.backward()
    grads = {}
    for name, p in model.named_parameters():  # unique (tied -> first name)
        grads[name] = p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p)
    return logits.detach(), loss.detach(), grads


def _canonical_grads(model, grads):
    """grads keyed by every alias of a tied parameter (named_parameters lists each tensor once)."""
    out = dict(grads)
    for _canon, names, _t in export_hf.hf_parameter_groups(model):
        src = next((n for n in names if n in grads), None)
        for n in names:
            if src is not None:
                out[n] = grads[src]
    return out


def fp32_vs_fp64(grads: dict, grads64: dict, names) -> tuple[float, float]:
    """(max abs difference, max per-tensor relative difference) of float32 vs float64 gradients."""
    max_abs = max_rel = 0.0
    for n in names:
        d = float((grads[n].double() - grads64[n]).abs().max())
        scale = float(grads64[n].abs().max())
        max_abs = max(max_abs, d)
        if scale > ZERO_GRAD:
            max_rel = max(max_rel, d / scale)
    return max_abs, max_rel


def process_folder(folder: str) -> list[tuple[str, float]]:
    results = []
    sidecars = []
    for fname in sorted(os.listdir(folder)):
        if fname.endswith(".onnx"):
            side_path = export_hf.sidecar_path(os.path.join(folder, fname))
            if not os.path.exists(side_path):
                continue
            with open(side_path, encoding="utf-8") as f:
                side = json.load(f)
            if side.get("mode") != "eval":
                print(f"[reference_grads] skip {os.path.relpath(os.path.join(folder, fname), MODELS)} (mode {side.get('mode')})")
                continue
            sidecars.append((fname, side))
    if not sidecars:
        return results
    task = sidecars[0][1]["task"]
    # HF model from config.json + the initializers of the folder's first eval ONNX file (checked
    # against onnxruntime to < 1e-5); the other eval files must hold the very same weights
    model = export_hf.load_hf_from_onnx(os.path.join(folder, sidecars[0][0]), attn_implementation="eager")
    for fname, _ in sidecars[1:]:
        other = export_hf.load_hf_from_onnx(os.path.join(folder, fname), attn_implementation="eager")
        a, b = model.state_dict(), other.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), \
            f"{folder}: {fname} holds different weights than {sidecars[0][0]}"
    model64 = copy.deepcopy(model).double().eval()
    pad_id = sidecars[0][1]["pad_token_id"]
    pad_id = 0 if pad_id is None else pad_id
    input_ids, attention_mask, labels = make_batch(task, model.config.vocab_size,
                                                   sidecars[0][1].get("num_labels"), pad_id)

    logits, loss, grads = forward_backward(model, task, input_ids, attention_mask, labels)
    logits64, loss64, grads64 = forward_backward(model64, task, input_ids, attention_mask, labels)
    grads = _canonical_grads(model, grads)
    grads64 = _canonical_grads(model64, grads64)
    gap_abs, gap_rel = fp32_vs_fp64(grads, grads64, sorted(grads))
    print(f"[reference_grads] {os.path.relpath(folder, MODELS)}: float32 vs float64 autograd: "
          f"max|grad32-grad64|={gap_abs:.3e}  max relative (per tensor)={gap_rel:.3e}  "
          f"loss {loss.item():.6f} vs {loss64.item():.6f}")

    for fname, side in sidecars:
        onnx_path = os.path.join(folder, fname)
        tensors = {
            "input_ids": input_ids.contiguous(),
            "attention_mask": attention_mask.contiguous(),
            "labels": labels.contiguous(),
            "logits": logits.float().contiguous(),
            "loss": loss.float().reshape([]).contiguous(),
        }
        for init_name, m in side["parameters"].items():
            g32 = grads[m["name"]]
            if m["transpose"]:
                g32 = g32.t()
            tensors[f"grad/{init_name}"] = g32.float().contiguous()
        ort = export_hf.ort_logits(onnx_path, input_ids.numpy(), attention_mask.numpy())
        diff = float(np.abs(ort - logits.numpy()).max())
        rel = os.path.relpath(onnx_path, MODELS)
        print(f"[reference_grads] {rel}: loss={loss.item():.6f} "
              f"ORT-vs-PyTorch logits max|diff|={diff:.3e}  {len(side['parameters'])} grads")
        if not diff < TOLERANCE:
            raise SystemExit(f"{rel}: onnxruntime logits differ from PyTorch by {diff}")
        out = os.path.join(folder, fname[:-len(".onnx")] + ".ref.safetensors")
        # one metadata key: safetensors writes its metadata map in hash order (not reproducible)
        meta = {"format": 1, "task": task, "onnx": fname, "batch": BATCH, "seq": SEQ,
                "ort_max_abs_diff": float(f"{diff:.3e}"),
                "fp32_vs_fp64_max_abs": float(f"{gap_abs:.3e}"),
                "fp32_vs_fp64_max_rel": float(f"{gap_rel:.3e}")}
        save_file(dict(sorted(tensors.items())), out,
                  metadata={"onnx_distill": json.dumps(meta, sort_keys=True)})
        results.append((rel, diff))
    return results


def run(names=None):
    torch.set_num_threads(1)
    if not names:
        names = sorted(n for n in os.listdir(MODELS)
                       if os.path.exists(os.path.join(MODELS, n, "config.json")))
    out = []
    for n in names:
        folder = os.path.join(MODELS, n)
        if os.path.exists(os.path.join(folder, "config.json")):
            out += process_folder(folder)
    return out


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args):
        print(__doc__)
        return 0
    run(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
