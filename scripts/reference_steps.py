#!/usr/bin/env python3
"""PyTorch references for the TypeScript training-step parity tests (distillation + optimizer).

  python scripts/reference_steps.py [STUDENT ...] [--max-norm X]
      (default: bert-student distilbert-student gpt2-student; writes models/steps/)

For each teacher/student pair and each optimizer (SGD with momentum, AdamW with gradient-norm
clipping) runs 5 training steps of the seed distillation loss (NLP with Transformers'
DistillationTrainer.compute_loss), every parameter trainable, float32, eval() semantics (no
dropout) for both models, 1 thread:

  logits_stu = student(input_ids, attention_mask).logits
  ce   = F.cross_entropy(logits_stu, labels, ignore_index=-100)         (mean over counted entries)
  logits_tea = teacher(input_ids, attention_mask).logits                (no_grad)
  kd   = T**2 * KLDivLoss(batchmean)(log_softmax(logits_stu / T), softmax(logits_tea / T))
  loss = alpha * ce + (1 - alpha) * kd                                  (alpha 0.5, T 2.0)

seq-cls: logits [B, C], labels [B] with one row -100 per batch (CE ignores it; KD batchmean
divides by B).  causal-lm: logits[:, :-1] vs input_ids[:, 1:] with -100 where
attention_mask[:, 1:] == 0; CE mean and KD batchmean over the N counted positions only.

Both models are rebuilt from their fixture's model.onnx (export_hf.load_hf_from_onnx), so the
initial student parameters are exactly the ONNX initializers (asserted).  Output, per (student,
optimizer): models/steps/<student>.<sgd|adamw>.ref.safetensors, see docs/FIXTURES.md.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import export_hf  # noqa: E402

MODELS = os.path.join(os.path.dirname(HERE), "models")
OUT_DIR = os.path.join(MODELS, "steps")

PAIRS = {  # student -> (teacher, task, batch size)
    "bert-student": ("bert-teacher", "seq-cls", 4),
    "distilbert-student": ("distilbert-teacher", "seq-cls", 4),
    # B = 3 for GPT-2: the full teacher logits [B, 12, 2000] x 5 steps dominate the file size
    "gpt2-student": ("gpt2-teacher", "causal-lm", 3),
}
STEPS = 5
SEQ = 12
SEED = 1234  # batch k: torch.Generator().manual_seed(SEED + k)
TOKEN_LOW = 5  # token ids drawn from [5, vocab): no special tokens, no pad
# unpadded length of each row, per step (a model with B < 4 uses the first B entries)
LENGTHS = [
    [12, 9, 7, 12],
    [10, 12, 6, 11],
    [12, 8, 12, 5],
    [7, 12, 11, 9],
    [12, 12, 10, 4],
]
ALPHA = 0.5
TEMPERATURE = 2.0
DEFAULT_MAX_NORM = 0.25  # clips 3 of 5 AdamW steps for BERT/DistilBERT, all 5 for GPT-2
ORT_TOLERANCE = 1e-4

OPTIMIZERS = {
    "sgd": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.0, "nesterov": False,
            "weight_decay": 0.01, "betas": None, "eps": None, "max_norm": None},
    "adamw": {"name": "adamw", "lr": 2e-3, "momentum": None, "dampening": None, "nesterov": None,
              "weight_decay": 0.01, "betas": [0.9, 0.999], "eps": 1e-8, "max_norm": DEFAULT_MAX_NORM},
}


def make_batch(k: int, task: str, batch: int, vocab_size: int, pad_id: int):
    """Batch of step k: (input_ids, attention_mask, labels) as given to the loss."""
    g = torch.Generator().manual_seed(SEED + k)
    input_ids = torch.randint(TOKEN_LOW, vocab_size, (batch, SEQ), generator=g, dtype=torch.int64)
    attention_mask = torch.ones((batch, SEQ), dtype=torch.int64)
    for row, n in enumerate(LENGTHS[k][:batch]):
        attention_mask[row, n:] = 0
        input_ids[row, n:] = pad_id
    if task == "seq-cls":
        labels = torch.randint(0, 2, (batch,), generator=g, dtype=torch.int64)
        labels[k % batch] = -100  # one unlabeled row per batch
    elif task == "causal-lm":
        labels = input_ids.clone()  # the loss shifts them; padded targets come from attention_mask
    else:
        raise ValueError(task)
    return input_ids, attention_mask, labels


def distill_loss(task: str, logits_stu, logits_tea, labels, attention_mask):
    """(loss, ce, kd) of the seed DistillationTrainer.compute_loss."""
    kl = nn.KLDivLoss(reduction="batchmean")
    if task == "seq-cls":
        ce = F.cross_entropy(logits_stu, labels, ignore_index=-100)
        kd = TEMPERATURE ** 2 * kl(F.log_softmax(logits_stu / TEMPERATURE, dim=-1),
                                   F.softmax(logits_tea / TEMPERATURE, dim=-1))
    elif task == "causal-lm":
        v = logits_stu.shape[-1]
        stu = logits_stu[:, :-1, :]
        tea = logits_tea[:, :-1, :]
        targets = labels[:, 1:].clone()
        targets[attention_mask[:, 1:] == 0] = -100
        ce = F.cross_entropy(stu.reshape(-1, v), targets.reshape(-1), ignore_index=-100)
        counted = (targets != -100).reshape(-1)
        s_rows = stu.reshape(-1, v)[counted]
        t_rows = tea.reshape(-1, v)[counted]
        kd = TEMPERATURE ** 2 * kl(F.log_softmax(s_rows / TEMPERATURE, dim=-1),
                                   F.softmax(t_rows / TEMPERATURE, dim=-1))
    else:
        raise ValueError(task)
    return ALPHA * ce + (1 - ALPHA) * kd, ce, kd


def load_sidecar(folder: str) -> dict:
    with open(os.path.join(folder, "distill.json"), encoding="utf-8") as f:
        return json.load(f)


def onnx_initializers(folder: str, side: dict) -> dict:
    from onnx import numpy_helper

    proto = onnx.load(os.path.join(folder, "model.onnx"))
    inits = {i.name: i for i in proto.graph.initializer}
    return {n: torch.from_numpy(numpy_helper.to_array(inits[n]).astype(np.float32).copy())
            for n in side["parameters"]}


def params_in_onnx_layout(model, side: dict) -> dict:
    """{onnx initializer name: current parameter value in the initializer's layout}."""
    named = dict(model.named_parameters(remove_duplicate=False))
    out = {}
    for init_name, m in side["parameters"].items():
        t = named[m["name"]].detach()
        if m["transpose"]:
            t = t.t()
        out[init_name] = t.float().contiguous().clone()
    return out


def make_optimizer(opt: dict, params):
    if opt["name"] == "sgd":
        return torch.optim.SGD(params, lr=opt["lr"], momentum=opt["momentum"],
                               dampening=opt["dampening"], nesterov=opt["nesterov"],
                               weight_decay=opt["weight_decay"], foreach=False)
    if opt["name"] == "adamw":
        return torch.optim.AdamW(params, lr=opt["lr"], betas=tuple(opt["betas"]), eps=opt["eps"],
                                 weight_decay=opt["weight_decay"], amsgrad=False, foreach=False)
    raise ValueError(opt["name"])


def f32(x) -> float:
    """A float32 tensor scalar as the Python float of the same value."""
    return float(np.float32(x.item() if hasattr(x, "item") else x))


def run_pair(student_name: str, opt_name: str, max_norm: float) -> str:
    teacher_name, task, batch = PAIRS[student_name]
    opt = dict(OPTIMIZERS[opt_name])
    if opt["max_norm"] is not None:
        opt["max_norm"] = max_norm
    s_folder = os.path.join(MODELS, student_name)
    t_folder = os.path.join(MODELS, teacher_name)
    side = load_sidecar(s_folder)
    assert side["task"] == task, (side["task"], task)
    student = export_hf.load_hf_from_onnx(s_folder)
    teacher = export_hf.load_hf_from_onnx(t_folder)
    student.eval()
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    params = list(student.parameters())  # unique tensors: the tied GPT-2 weight once
    for p in params:
        p.requires_grad_(True)
    assert len(params) == len(side["parameters"]), (len(params), len(side["parameters"]))

    # initial parameters == the student's model.onnx initializers (bit-exact)
    initial = params_in_onnx_layout(student, side)
    inits = onnx_initializers(s_folder, side)
    for n, t in inits.items():
        assert torch.equal(initial[n], t), f"{student_name}: {n} differs from its ONNX initializer"

    pad = side.get("pad_token_id")
    pad = 0 if pad is None else int(pad)
    vocab = int(student.config.vocab_size)
    optimizer = make_optimizer(opt, params)
    tensors = {}
    per_step = {"loss": [], "ce": [], "kd": [], "grad_norm": [], "clipped": []}
    ort_diff = 0.0
    tag = f"{student_name}.{opt_name}"
    for k in range(STEPS):
        input_ids, attention_mask, labels = make_batch(k, task, batch, vocab, pad)
        with torch.no_grad():
            logits_tea = teacher(input_ids=input_ids, attention_mask=attention_mask).logits
        ort = export_hf.ort_logits(os.path.join(t_folder, "model.onnx"), input_ids.numpy(),
                                   attention_mask.numpy())
        ort_diff = max(ort_diff, float(np.abs(ort - logits_tea.numpy()).max()))
        optimizer.zero_grad(set_to_none=True)
        logits_stu = student(input_ids=input_ids, attention_mask=attention_mask).logits
        loss, ce, kd = distill_loss(task, logits_stu, logits_tea, labels, attention_mask)
        loss.backward()
        grads = [p.grad for p in params]
        assert all(g is not None for g in grads)
        norm = torch.nn.utils.get_total_norm(grads, norm_type=2.0)
        if opt["max_norm"] is not None:
            norm2 = torch.nn.utils.clip_grad_norm_(params, max_norm=opt["max_norm"])
            assert torch.equal(norm, norm2)
        clipped = opt["max_norm"] is not None and norm.item() > opt["max_norm"]
        optimizer.step()

        tensors[f"input_ids/{k}"] = input_ids.contiguous()
        tensors[f"attention_mask/{k}"] = attention_mask.contiguous()
        tensors[f"labels/{k}"] = labels.contiguous()
        # Vocabulary-sized LM logits would dominate the fixture size; the TS test recomputes them with the
        # teacher's ONNX file in onnxruntime (checked above to match PyTorch), so only classifier logits are stored.
        if task != "causal-lm":
            tensors[f"teacher_logits/{k}"] = logits_tea.float().contiguous()
        tensors[f"loss/{k}"] = loss.detach().float().reshape([]).contiguous()
        tensors[f"ce/{k}"] = ce.detach().float().reshape([]).contiguous()
        tensors[f"kd/{k}"] = kd.detach().float().reshape([]).contiguous()
        tensors[f"grad_norm/{k}"] = norm.detach().float().reshape([]).contiguous()
        for key, val in (("loss", loss), ("ce", ce), ("kd", kd), ("grad_norm", norm)):
            per_step[key].append(f32(val))
        per_step["clipped"].append(bool(clipped))
        print(f"[reference_steps] {tag} step {k}: loss={loss.item():.6f} ce={ce.item():.6f} "
              f"kd={kd.item():.6f} grad_norm(pre-clip)={norm.item():.6f}"
              + (f" clipped={clipped}" if opt["max_norm"] is not None else ""))
    if ort_diff >= ORT_TOLERANCE:
        raise SystemExit(f"{teacher_name}: onnxruntime teacher logits differ by {ort_diff}")

    final = params_in_onnx_layout(student, side)
    rel_updates = []
    for n in side["parameters"]:
        d = float(torch.linalg.vector_norm((final[n] - initial[n]).double()))
        r = d / max(float(torch.linalg.vector_norm(initial[n].double())), 1e-30)
        rel_updates.append((n, r))
        assert d > 0, f"{tag}: {n} did not change"
        tensors[f"final/{n}"] = final[n]
    print(f"[reference_steps] {tag}: relative L2 update |final-initial|/|initial| per parameter:")
    for n, r in rel_updates:
        print(f"    {r:.3e}  {n}")

    meta = {
        "format": 1,
        "pair": {"teacher": teacher_name, "student": student_name},
        "teacher_onnx": f"{teacher_name}/model.onnx",
        "student_onnx": f"{student_name}/model.onnx",
        "task": task,
        "alpha": ALPHA,
        "T": TEMPERATURE,
        "optimizer": opt,
        "B": batch,
        "S": SEQ,
        "steps": STEPS,
        "seed": SEED,
        "lengths": [row[:batch] for row in LENGTHS],
        "teacher_ort_max_abs_diff": float(f"{ort_diff:.3e}"),
        "per_step": per_step,
    }
    os.makedirs(OUT_DIR, exist_ok=True)
    out = os.path.join(OUT_DIR, f"{student_name}.{opt_name}.ref.safetensors")
    # one metadata key: safetensors writes its metadata map in hash order (not reproducible)
    save_file(dict(sorted(tensors.items())), out,
              metadata={"onnx_distill": json.dumps(meta, sort_keys=True)})
    print(f"[reference_steps] wrote {os.path.relpath(out, os.path.dirname(MODELS))} "
          f"({os.path.getsize(out):,} bytes)")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("students", nargs="*", default=list(PAIRS), help="student fixture names")
    ap.add_argument("--max-norm", type=float, default=DEFAULT_MAX_NORM,
                    help=f"AdamW gradient clipping max_norm (default {DEFAULT_MAX_NORM})")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    for s in args.students:
        if s not in PAIRS:
            raise SystemExit(f"unknown student {s!r} (one of {', '.join(PAIRS)})")
        for opt_name in OPTIMIZERS:
            run_pair(s, opt_name, args.max_norm)
    return 0


if __name__ == "__main__":
    sys.exit(main())
