#!/usr/bin/env python3
"""PyTorch reference numbers for the distillation loss tests (test/losses.test.ts).

  python scripts/reference_losses.py

Writes models/losses/reference.safetensors (all float64 / int64) and models/losses/reference.json
(the list of cases; the same JSON is the safetensors metadata key `onnx_distill`).

The loss is the seed implementation's (NLP with Transformers, DistillationTrainer.compute_loss):

  loss_kd = T**2 * nn.KLDivLoss(reduction="batchmean")(F.log_softmax(s / T, -1), F.softmax(t / T, -1))
  loss    = alpha * ce + (1 - alpha) * loss_kd,   ce = F.cross_entropy(s, labels, ignore_index=-100)

applied per task to the rows that count:
  seq-cls    s, t [B, C], labels [B]: CE over labelled rows; KD over all B rows (unlabelled rows too).
  token-cls  s, t [B, S, C], labels [B, S]: both terms over the positions whose label is not -100.
  causal-lm  s, t [B, S, V], labels = input ids [B, S]: s[:, :-1] against labels[:, 1:]; a target counts
             unless it is -100 or padding (attention_mask[:, 1:] == 0); KD over the same positions of
             s[:, :-1], t[:, :-1].
When no row counts, PyTorch's mean is 0/0 = NaN; the contract (src/losses/cross-entropy.ts) says 0, so
the script uses 0 for that term (with a zero gradient).

Per case `<name>/`: student, teacher (float64), labels (int64), attention_mask (int64, causal-lm cases
that pass one), loss, ce, kd (float64 scalars) and grad (d loss / d student by autograd, float64).
alpha and temperature are listed in the JSON with the dtype the test feeds them in; a float32 case's
reference uses the float32-rounded value, so float64 results agree to round-off.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "models", "losses")

PAIRS = [(0.5, 2.0), (0.0, 1.0), (1.0, 4.0), (0.3, 5.0)]


def seed_loss(s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, kd_rows: torch.Tensor, alpha: float, T: float):
    """s, t: [N, C] rows; labels [N] with -100 = ignore for CE; kd_rows: bool [N], rows KD averages over."""
    if (labels != -100).any():
        ce = F.cross_entropy(s, labels, ignore_index=-100)
    else:
        ce = s.sum() * 0.0  # contract: 0 instead of PyTorch's NaN
    if kd_rows.any():
        kl = nn.KLDivLoss(reduction="batchmean")
        kd = T**2 * kl(F.log_softmax(s[kd_rows] / T, dim=-1), F.softmax(t[kd_rows] / T, dim=-1))
    else:
        kd = s.sum() * 0.0
    return alpha * ce + (1.0 - alpha) * kd, ce, kd


def compute(task: str, student: torch.Tensor, teacher: torch.Tensor, labels: torch.Tensor,
            mask: torch.Tensor | None, alpha: float, T: float):
    s = student.clone().requires_grad_(True)
    if task == "seq-cls":
        loss, ce, kd = seed_loss(s, teacher, labels, torch.ones_like(labels, dtype=torch.bool), alpha, T)
    elif task == "token-cls":
        C = s.shape[-1]
        lab = labels.reshape(-1)
        loss, ce, kd = seed_loss(s.reshape(-1, C), teacher.reshape(-1, C), lab, lab != -100, alpha, T)
    else:
        V = s.shape[-1]
        target = labels[:, 1:].clone()
        if mask is not None:
            target[mask[:, 1:] == 0] = -100
        lab = target.reshape(-1)
        loss, ce, kd = seed_loss(s[:, :-1].reshape(-1, V), teacher[:, :-1].reshape(-1, V), lab, lab != -100, alpha, T)
    (grad,) = torch.autograd.grad(loss, s)
    return loss.detach(), ce.detach(), kd.detach(), grad


def make_data(task: str, g: torch.Generator, variant: str):
    if task == "seq-cls":
        B, C = 6, 5
        shape = (B, C)
        labels = torch.randint(0, C, (B,), generator=g)
        labels[[1, 4]] = -100  # unlabelled transfer-set rows: KD only
        if variant == "all-unlabelled":
            labels[:] = -100
        mask = None
    elif task == "token-cls":
        B, S, C = 3, 6, 5
        shape = (B, S, C)
        labels = torch.randint(0, C, (B, S), generator=g)
        labels[:, 0] = -100  # [CLS]
        labels[1, 4:] = -100  # padding
        labels[2, 2] = -100  # a continuation sub-word
        if variant == "none-counted":
            labels[:] = -100
        mask = None
    else:
        B, S, V = 3, 7, 11
        shape = (B, S, V)
        labels = torch.randint(1, V, (B, S), generator=g)
        mask = torch.ones(B, S, dtype=torch.int64)
        mask[1, 5:] = 0  # right padding
        mask[2, :2] = 0  # left padding
        labels[mask == 0] = 0  # pad id
        labels[0, 3] = -100  # an explicitly ignored target
        if variant == "no-mask":
            mask = None
    student = torch.randn(*shape, generator=g, dtype=torch.float64) * 2.5
    teacher = torch.randn(*shape, generator=g, dtype=torch.float64) * 3.0
    return student, teacher, labels, mask


def main() -> None:
    specs = []
    for task in ("seq-cls", "token-cls", "causal-lm"):
        for k, (alpha, T) in enumerate(PAIRS):
            specs.append((task, "", alpha, T, "float32" if k % 2 == 0 else "float64"))
    specs.append(("seq-cls", "all-unlabelled", 0.5, 2.0, "float64"))
    specs.append(("token-cls", "none-counted", 0.5, 2.0, "float32"))
    specs.append(("causal-lm", "no-mask", 0.3, 5.0, "float64"))

    tensors: dict[str, torch.Tensor] = {}
    cases = []
    for i, (task, variant, alpha, T, scalar_dtype) in enumerate(specs):
        g = torch.Generator().manual_seed(1000 + i)
        student, teacher, labels, mask = make_data(task, g, variant)
        a = float(np.float32(alpha)) if scalar_dtype == "float32" else alpha
        t = float(np.float32(T)) if scalar_dtype == "float32" else T
        loss, ce, kd, grad = compute(task, student, teacher, labels, mask, a, t)
        name = f"{task}{'-' + variant if variant else ''}-a{alpha}-T{T}"
        for key, v in (("student", student), ("teacher", teacher), ("labels", labels), ("loss", loss),
                       ("ce", ce), ("kd", kd), ("grad", grad)):
            tensors[f"{name}/{key}"] = v.contiguous()
        if mask is not None:
            tensors[f"{name}/attention_mask"] = mask.contiguous()
        cases.append({"name": name, "task": task, "variant": variant, "alpha": alpha, "temperature": T,
                      "scalar_dtype": scalar_dtype, "attention_mask": mask is not None,
                      "shape": list(student.shape)})
        print(f"{name:40s} loss {loss.item():.12g} ce {ce.item():.12g} kd {kd.item():.12g}")

    meta = {"format": 1, "script": "scripts/reference_losses.py", "torch": torch.__version__, "cases": cases}
    os.makedirs(OUT, exist_ok=True)
    save_file(tensors, os.path.join(OUT, "reference.safetensors"), metadata={"onnx_distill": json.dumps(meta)})
    with open(os.path.join(OUT, "reference.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    print(f"{len(cases)} cases, {os.path.getsize(os.path.join(OUT, 'reference.safetensors'))} bytes")


if __name__ == "__main__":
    main()
