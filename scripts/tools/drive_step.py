#!/usr/bin/env python3
"""Drive onnx-distill training artifacts from Python, using only manifest.json, the files it names and
onnxruntime (no onnx-distill code), and compare with the TypeScript runner (see docs/PYTHON-DRIVER.md).

    node scripts/tools/drive-step-ts.mjs OUT_DIR      # build artifacts + batches + TypeScript reference
    python3 scripts/tools/drive_step.py OUT_DIR       # this driver

Reads from OUT_DIR:
  manifest.json, train_step.onnx, train_loop.onnx, initial_state.safetensors   (the built artifacts)
  batches.safetensors   batch k's inputs as `<input>/<k>` (names from manifest `batch`)
  ts_results.json       TypeScript metrics per step (+ per-parameter sum / L2 / first 5 values)
  ts_final.safetensors  TypeScript final parameters (optional but preferred: exact comparison)

Runs 1) train_step.onnx once per batch (parameters and optimizer state fed back each call) and
2) train_loop.onnx once over all batches stacked along a leading axis, and checks both against the
TypeScript numbers: metrics and parameters to --rtol (default 1e-6) relative. Exits 1 on FAIL.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file

# manifest dtype strings (onnx-distill's dtypeName: 'float32', 'float64', else the lowercased ONNX name)
NP_DTYPE = {
    "float32": np.float32, "float64": np.float64, "float16": np.float16,
    "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8, "uint8": np.uint8, "bool": np.bool_,
}


def np_dtype(name: str):
    if name not in NP_DTYPE:
        sys.exit(f"manifest dtype '{name}' has no numpy equivalent in this driver")
    return NP_DTYPE[name]


def open_session(path: str, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL  # what the TS runner uses
    # as src/runtime/session.ts: recomputed values stay recomputed; threads stop spinning when a run returns
    so.add_session_config_entry("optimization.disable_specified_optimizers", "CommonSubexpressionElimination")
    so.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def check_interface(sess: ort.InferenceSession, feeds: dict, fetches: list[str], what: str) -> None:
    """The manifest must name every input the model has, and every output we fetch must exist."""
    inputs = {i.name for i in sess.get_inputs()}
    outputs = {o.name for o in sess.get_outputs()}
    missing = sorted(inputs - feeds.keys())
    extra = sorted(feeds.keys() - inputs)
    absent = sorted(set(fetches) - outputs)
    if missing or extra or absent:
        sys.exit(f"{what}: manifest does not match the model: inputs not fed {missing}, fed but not inputs {extra}, outputs not found {absent}")


def load_state(man: dict, out_dir: str):
    """Initial parameters from initial_state.safetensors; optimizer state from the manifest's init values."""
    initial = load_file(os.path.join(out_dir, man["initial_state"]))
    params = {}
    for p in man["parameters"]:
        a = initial[p["name"]]
        assert a.dtype == np_dtype(p["dtype"]) and list(a.shape) == p["shape"], p["name"]
        # A parameter updated in chunks travels as [chunks, length] (the manifest's ioShape): same data.
        params[p["name"]] = a.reshape(p.get("ioShape", p["shape"]))
    state = {s["name"]: np.full(s.get("ioShape", s["shape"]), s["init"], dtype=np_dtype(s["dtype"])) for s in man["state"]}
    return params, state


def load_batches(man: dict, out_dir: str) -> list[dict]:
    raw = load_file(os.path.join(out_dir, "batches.safetensors"))
    batches, k = [], 0
    while all(f"{b['name']}/{k}" in raw for b in man["batch"]):
        batches.append({b["name"]: raw[f"{b['name']}/{k}"].astype(np_dtype(b["dtype"]), copy=False) for b in man["batch"]})
        k += 1
    if not batches:
        sys.exit("batches.safetensors: no complete batch 0 (need " + ", ".join(f"{b['name']}/0" for b in man["batch"]) + ")")
    return batches


def hyper_feeds(man: dict, values: dict) -> dict:
    """Scalar hyperparameters in the manifest's dtypes; `values` maps name -> number (or array for loop lr)."""
    out = {}
    for h in man["hyperparameters"]:
        if h["name"] not in values:
            sys.exit(f"no value for hyperparameter '{h['name']}'")
        out[h["name"]] = np.asarray(values[h["name"]], dtype=np_dtype(h["dtype"]))
    return out


def run_step_model(man: dict, out_dir: str, batches: list[dict], hp: dict, threads: int):
    """train_step.onnx, one call per batch; `step` is the 1-based optimizer step (steps done + 1)."""
    sess = open_session(os.path.join(out_dir, man["models"]["train_step"]), threads)
    params, state = load_state(man, out_dir)
    fetches = list(man["metrics"]) + [p["output"] for p in man["parameters"]] + [s["output"] for s in man["state"]]
    metrics = []
    for k, batch in enumerate(batches):
        feeds = dict(batch)
        feeds.update(hyper_feeds(man, {**hp, "step": k + 1}))
        feeds.update(params)
        feeds.update(state)
        if k == 0:
            check_interface(sess, feeds, fetches, "train_step.onnx")
        out = dict(zip(fetches, sess.run(fetches, feeds)))
        metrics.append({m: float(out[m]) for m in man["metrics"]})
        params = {p["name"]: out[p["output"]] for p in man["parameters"]}
        state = {s["name"]: out[s["output"]] for s in man["state"]}
    return metrics, {p["name"]: params[p["name"]].reshape(p["shape"]) for p in man["parameters"]}


def stack(man: dict, batches: list[dict]) -> dict:
    """Stack along a new leading `steps` axis; inputs with a symbolic axis 1 (sequence) are padded to the
    longest (labels with -100, everything else with 0, as the TypeScript runner does)."""
    out = {}
    for b in man["batch"]:
        name, parts = b["name"], [batch[b["name"]] for batch in batches]
        if len(b["shape"]) >= 2 and not isinstance(b["shape"][1], int):
            seq = max(p.shape[1] for p in parts)
            pad = -100 if name == "labels" else 0
            parts = [np.pad(p, [(0, 0), (0, seq - p.shape[1])] + [(0, 0)] * (p.ndim - 2), constant_values=pad) for p in parts]
        out[name] = np.stack(parts)
    return out


def run_loop_model(man: dict, out_dir: str, batches: list[dict], hp: dict, threads: int):
    """train_loop.onnx, one call for all batches; `lr` per step, `step` = optimizer steps done before (0)."""
    sess = open_session(os.path.join(out_dir, man["models"]["train_loop"]), threads)
    params, state = load_state(man, out_dir)
    feeds = stack(man, batches)
    feeds.update(hyper_feeds(man, {**hp, "lr": 0.0, "step": 0}))
    feeds["lr"] = np.full([len(batches)], hp["lr"], dtype=feeds["lr"].dtype)
    feeds.update(params)
    feeds.update(state)
    fetches = list(man["metrics"]) + [p["output"] for p in man["parameters"]] + [s["output"] for s in man["state"]]
    check_interface(sess, feeds, fetches, "train_loop.onnx")
    out = dict(zip(fetches, sess.run(fetches, feeds)))
    metrics = [{m: float(out[m][k]) for m in man["metrics"]} for k in range(len(batches))]
    return metrics, {p["name"]: out[p["output"]].reshape(p["shape"]) for p in man["parameters"]}


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b != 0 else abs(a - b)


def compare(label: str, metrics: list[dict], params: dict, ts: dict, ts_final: dict | None, rtol: float) -> bool:
    ok = True
    print(f"== {label}")
    worst_m = (0.0, "")
    for k, (got, want) in enumerate(zip(metrics, ts["metrics"])):
        print(f"  step {k + 1}: " + "  ".join(f"{m} {got[m]:.9g}" for m in got))
        for m, v in got.items():
            r = rel(v, want[m])
            if not r <= worst_m[0] or not worst_m[1]:
                worst_m = (r, f"step {k + 1} {m}")
            if not r <= rtol:  # NaN fails too
                ok = False
                print(f"  FAIL step {k + 1} {m}: {v!r} vs TS {want[m]!r} (rel {r:.3e})")
    if len(metrics) != len(ts["metrics"]):
        ok = False
        print(f"  FAIL {len(metrics)} steps here, {len(ts['metrics'])} in ts_results.json")
    print(f"  metrics: max relative difference {worst_m[0]:.3e} ({worst_m[1]})")

    worst_p, worst_abs, differing, total = (0.0, ""), 0.0, 0, 0
    for name, a in params.items():
        if ts_final is not None:
            b = ts_final[name]
            d = np.abs(a.astype(np.float64) - b.astype(np.float64))
            r = float(d.max() / max(float(np.abs(b).max()), 1e-30))  # max |diff| relative to the tensor's scale
            m = float(d.max())
            worst_abs = m if not m <= worst_abs else worst_abs  # keeps a NaN
            differing += int(np.count_nonzero(a != b))
            total += a.size
        else:  # summary only: sum, L2 and first 5 values
            s = ts["parameters"][name]
            a64 = a.astype(np.float64).ravel()
            r = max(rel(float(np.linalg.norm(a64)), s["l2"]),
                    float(np.max(np.abs(a64[:5] - np.asarray(s["first5"])))) / max(float(np.abs(a64[:5]).max()), 1e-30))
        if not r <= worst_p[0] or not worst_p[1]:
            worst_p = (r, name)
        if not r <= rtol:  # NaN fails too
            ok = False
            print(f"  FAIL {name}: max relative difference {r:.3e}")
    src = "ts_final.safetensors" if ts_final is not None else "ts_results.json summaries"
    print(f"  parameters ({len(params)}, vs {src}): max relative difference {worst_p[0]:.3e} ({worst_p[1]})"
          + (f", max abs {worst_abs:.3e}, {differing}/{total} elements not bit-identical" if ts_final is not None else ""))
    print(f"  {label}: {'PASS' if ok else 'FAIL'}")
    return ok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--rtol", type=float, default=1e-6)
    ap.add_argument("--threads", type=int, default=None, help="ORT intra-op threads (default: ts_results.json's, else 1)")
    args = ap.parse_args()
    d = args.out_dir

    with open(os.path.join(d, "manifest.json")) as f:
        man = json.load(f)
    with open(os.path.join(d, "ts_results.json")) as f:
        ts = json.load(f)
    ts_final_path = os.path.join(d, "ts_final.safetensors")
    ts_final = load_file(ts_final_path) if os.path.exists(ts_final_path) else None
    threads = args.threads or ts.get("threads", 1)
    # Hyperparameter values are the run's choice, not the manifest's: take the ones the TS run used.
    hp = {k: float(v) for k, v in ts["hyperparameters"].items()}

    batches = load_batches(man, d)
    print(f"onnxruntime {ort.__version__} (Python), {threads} thread(s); {len(batches)} batches; "
          f"{len(man['parameters'])} parameters, {len(man['state'])} state tensors; optimizer {man['optimizer']['name']}; "
          f"hyperparameters {hp}")

    ok = compare("train_step.onnx, one call per step", *run_step_model(man, d, batches, hp, threads), ts, ts_final, args.rtol)
    ok = compare("train_loop.onnx, one call for all steps", *run_loop_model(man, d, batches, hp, threads), ts, ts_final, args.rtol) and ok
    print("PASS: Python onnxruntime matches the TypeScript runner" if ok else "FAIL: see above")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
