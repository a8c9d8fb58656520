#!/usr/bin/env python3
"""PyTorch references for the optimizer and gradient-clipping parity tests (test/optim.test.ts).

  python scripts/reference_optim.py        (writes models/optim/reference.safetensors + reference.json)

Inputs (seeded, float64 first, the float32 variant is the float64 values cast to float32):

  params   w [6, 8] (2-D), b [8], s [1] (scalar-like)      randn, torch.Generator().manual_seed(0)
  grads    6 steps x {w, b, s}                              randn from the same generator, step k scaled
           by GRAD_SCALE[k]; w[0, :] is 0 in steps 1-2 (AdamW sees v == 0 there: denom == eps)

For every case of CASES (torch.optim.SGD / torch.optim.AdamW, foreach=False: the single-tensor path,
which is also what PyTorch picks by default on CPU) and both dtypes the optimizer runs 6 steps with
lr = case.lr[k] at step k (set in param_groups before the step, as a scheduler does) and stores the
parameters and the optimizer state after every step. clip_grad_norm_ runs on the step-1 gradients with
max_norm below and above their total norm.

Tensors (dt = f32 | f64; safetensors dtype F32 | F64):

  {dt}.init.{p}                 [*shape]      initial parameter
  {dt}.grad.{p}                 [6, *shape]   gradient fed at step k (row k-1)
  {dt}.{case}.{p}               [6, *shape]   parameter after step k (row k-1)
  {dt}.{case}.{p}.{state}       [6, *shape]   state after step k: momentum_buffer | exp_avg | exp_avg_sq
  {dt}.{clip}.norm              []            total norm returned by clip_grad_norm_ (pre-clip)
  {dt}.{clip}.{p}               [*shape]      clipped gradient

reference.json describes params, steps, cases (optimizer, settings in the TypeScript names, lr per step)
and clip cases, and records how far PyTorch float32 is from exact on every case, for the test tolerances:
fp32_vs_fp64_max_abs / _max_rel = max |p32 - p64| (/ |p64|) over all parameters and steps, where p64
is a float64 run from the float32 inputs (so only float32 arithmetic differs; not stored).
"""
from __future__ import annotations

import json
import os

import torch
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(os.path.dirname(HERE), "models", "optim")

SHAPES = {"w": [6, 8], "b": [8], "s": [1]}
STEPS = 6
GRAD_SCALE = [1.0, 0.3, 2.0, 0.05, 1.0, 0.5]
SGD_LR = [0.1, 0.1, 0.05, 0.05, 0.02, 0.01]
ADAMW_LR = [1e-3, 2e-3, 3e-3, 3e-3, 2e-3, 1e-3]
ADAMW_LR_LARGE = [0.1, 0.2, 0.3, 0.3, 0.2, 0.1]

# settings: TypeScript names (createSgd / createAdamW); torch_kwargs: the same for torch.optim.
CASES = [
    {"name": "sgd_plain", "optimizer": "sgd", "lr": SGD_LR, "settings": {}},
    {"name": "sgd_wd", "optimizer": "sgd", "lr": SGD_LR, "settings": {"weightDecay": 0.01}},
    {"name": "sgd_momentum", "optimizer": "sgd", "lr": SGD_LR, "settings": {"momentum": 0.9}},
    {"name": "sgd_momentum_dampening_wd", "optimizer": "sgd", "lr": SGD_LR,
     "settings": {"momentum": 0.9, "dampening": 0.1, "weightDecay": 0.01}},
    {"name": "sgd_nesterov", "optimizer": "sgd", "lr": SGD_LR, "settings": {"momentum": 0.9, "nesterov": True}},
    {"name": "sgd_nesterov_wd", "optimizer": "sgd", "lr": SGD_LR,
     "settings": {"momentum": 0.9, "nesterov": True, "weightDecay": 0.01}},
    {"name": "adamw", "optimizer": "adamw", "lr": ADAMW_LR, "settings": {}},
    {"name": "adamw_wd0", "optimizer": "adamw", "lr": ADAMW_LR, "settings": {"weightDecay": 0.0}},
    {"name": "adamw_large_lr", "optimizer": "adamw", "lr": ADAMW_LR_LARGE,
     "settings": {"beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weightDecay": 0.1}},
]
CLIPS = [
    {"name": "clip_below", "max_norm": 1.0},  # max_norm below the total norm: gradients scaled down
    {"name": "clip_above", "max_norm": 100.0},  # above: clip_coef clamped to 1, gradients unchanged
]
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def make_inputs():
    g = torch.Generator().manual_seed(0)
    init = {p: torch.randn(shape, generator=g, dtype=torch.float64) for p, shape in SHAPES.items()}
    grads = {p: torch.empty([STEPS, *shape], dtype=torch.float64) for p, shape in SHAPES.items()}
    for k in range(STEPS):
        for p, shape in SHAPES.items():
            grads[p][k] = torch.randn(shape, generator=g, dtype=torch.float64) * GRAD_SCALE[k]
    grads["w"][0:2, 0, :] = 0.0
    return init, grads


def make_optimizer(case, params):
    s = case["settings"]
    if case["optimizer"] == "sgd":
        return torch.optim.SGD(
            params, lr=case["lr"][0], momentum=s.get("momentum", 0.0), dampening=s.get("dampening", 0.0),
            nesterov=s.get("nesterov", False), weight_decay=s.get("weightDecay", 0.0), foreach=False)
    return torch.optim.AdamW(
        params, lr=case["lr"][0], betas=(s.get("beta1", 0.9), s.get("beta2", 0.999)), eps=s.get("eps", 1e-8),
        weight_decay=s.get("weightDecay", 0.01), amsgrad=False, maximize=False, foreach=False)


STATE_NAMES = {"sgd": ["momentum_buffer"], "adamw": ["exp_avg", "exp_avg_sq"]}


def run_case(case, init, grads, dtype):
    """{p: [6, *shape]} parameters and {(p, state): [6, *shape]} states after every step."""
    params = {p: torch.nn.Parameter(init[p].to(dtype).clone()) for p in SHAPES}
    opt = make_optimizer(case, list(params.values()))
    states = STATE_NAMES[case["optimizer"]]
    if case["optimizer"] == "sgd" and case["settings"].get("momentum", 0.0) == 0.0:
        states = []
    out = {p: torch.empty([STEPS, *SHAPES[p]], dtype=dtype) for p in SHAPES}
    out_state = {(p, st): torch.empty([STEPS, *SHAPES[p]], dtype=dtype) for p in SHAPES for st in states}
    for k in range(STEPS):
        for group in opt.param_groups:
            group["lr"] = case["lr"][k]
        for p, t in params.items():
            t.grad = grads[p][k].to(dtype).clone()
        opt.step()
        for p, t in params.items():
            out[p][k] = t.detach()
            for st in states:
                out_state[(p, st)][k] = opt.state[t][st]
    return out, out_state


def run_clip(clip, grads, dtype):
    params = {p: torch.nn.Parameter(torch.zeros(SHAPES[p], dtype=dtype)) for p in SHAPES}
    for p, t in params.items():
        t.grad = grads[p][0].to(dtype).clone()
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), clip["max_norm"])
    return norm.detach(), {p: t.grad.detach().clone() for p, t in params.items()}


def main():
    init, grads = make_inputs()
    tensors: dict[str, torch.Tensor] = {}
    meta_cases = []
    for dt, dtype in DTYPES.items():
        for p in SHAPES:
            tensors[f"{dt}.init.{p}"] = init[p].to(dtype)
            tensors[f"{dt}.grad.{p}"] = grads[p].to(dtype)
    for case in CASES:
        results = {}
        for dt, dtype in DTYPES.items():
            out, out_state = run_case(case, init, grads, dtype)
            results[dt] = out
            for p, t in out.items():
                tensors[f"{dt}.{case['name']}.{p}"] = t
            for (p, st), t in out_state.items():
                tensors[f"{dt}.{case['name']}.{p}.{st}"] = t
        # Float32 arithmetic error alone: float64 from the float32 inputs vs float32 (not stored).
        init32 = {p: t.float().double() for p, t in init.items()}
        grads32 = {p: t.float().double() for p, t in grads.items()}
        exact, _ = run_case(case, init32, grads32, torch.float64)
        diff = max(float((results["f32"][p].double() - exact[p]).abs().max()) for p in SHAPES)
        rel = max(float(((results["f32"][p].double() - exact[p]).abs() / exact[p].abs()).max()) for p in SHAPES)
        states = STATE_NAMES[case["optimizer"]]
        if case["optimizer"] == "sgd" and case["settings"].get("momentum", 0.0) == 0.0:
            states = []
        meta_cases.append({**case, "states": states, "fp32_vs_fp64_max_abs": diff, "fp32_vs_fp64_max_rel": rel})
        print(f"[reference_optim] {case['name']}: fp32 vs fp64 max abs {diff:.3g}, max rel {rel:.3g}")
    meta_clips = []
    for clip in CLIPS:
        norms = {}
        for dt, dtype in DTYPES.items():
            norm, clipped = run_clip(clip, grads, dtype)
            norms[dt] = float(norm)
            tensors[f"{dt}.{clip['name']}.norm"] = norm
            for p, t in clipped.items():
                tensors[f"{dt}.{clip['name']}.{p}"] = t
        meta_clips.append({**clip, "total_norm_f64": norms["f64"]})
        print(f"[reference_optim] {clip['name']}: max_norm {clip['max_norm']}, total norm {norms['f64']:.6f}")
    os.makedirs(OUT, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, os.path.join(OUT, "reference.safetensors"))
    meta = {
        "format": "onnx-distill optim reference v1",
        "torch": torch.__version__,
        "steps": STEPS,
        "params": SHAPES,
        "grad_scale": GRAD_SCALE,
        "dtypes": list(DTYPES),
        "cases": meta_cases,
        "clips": meta_clips,
    }
    with open(os.path.join(OUT, "reference.json"), "w", encoding="utf-8") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    os.chmod(os.path.join(OUT, "reference.safetensors"), 0o644)
    size = os.path.getsize(os.path.join(OUT, "reference.safetensors"))
    print(f"[reference_optim] wrote models/optim/reference.safetensors ({size} bytes) + reference.json")


if __name__ == "__main__":
    main()
