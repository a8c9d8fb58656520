#!/usr/bin/env python3
"""Where an ONNX model's time goes in onnxruntime's CPU EP, and its time per batch run alone.

  python scripts/bench/ort_profile.py MODEL.onnx [MODEL2.onnx ...] [--threads 2] [--runs 20] [--batch 32 --seq 128]

Per model: ORT's profiler over --runs runs of one seeded random batch (token ids below 2,000, full mask),
kernel time per run by op type after ORT's graph optimizations (fused ops keep their fused names); then the
median wall time of 150 runs of the same batch with the session alone (10 untimed runs first). docs/COMPRESSION.md
uses it for the demo student's fp32 and int8 files.
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import tempfile
import time

import numpy as np
import onnxruntime as ort


def feeds_for(session: ort.InferenceSession, batch: int, seq: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    values = {
        "input_ids": rng.integers(5, 2000, (batch, seq)),
        "attention_mask": np.ones((batch, seq)),
        "token_type_ids": np.zeros((batch, seq)),
        "position_ids": np.tile(np.arange(seq), (batch, 1)),
    }
    return {i.name: values[i.name].astype(np.int64) for i in session.get_inputs()}


def session(model: str, threads: int, profile_dir: str | None = None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    if profile_dir:
        so.enable_profiling = True
        so.profile_file_prefix = os.path.join(profile_dir, "profile")
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    args = ap.parse_args()
    for model in args.models:
        with tempfile.TemporaryDirectory() as tmp:
            s = session(model, args.threads, tmp)
            feeds = feeds_for(s, args.batch, args.seq)
            for _ in range(args.runs):
                s.run(None, feeds)
            with open(s.end_profiling()) as f:
                events = json.load(f)
        per_op: collections.Counter[str] = collections.Counter()
        runs = sum(1 for e in events if e.get("cat") == "Session" and e["name"] == "model_run")
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per_op[e["args"]["op_name"]] += e["dur"]
        print(f"{model}: kernel time {sum(per_op.values()) / runs / 1000:.2f} ms per run ({runs} profiled runs, {args.threads} threads)")
        for op, us in per_op.most_common():
            print(f"  {op:28s} {us / runs / 1000:6.3f} ms")
        s = session(model, args.threads)
        for _ in range(10):
            s.run(None, feeds)
        times = []
        for _ in range(150):
            t0 = time.perf_counter()
            s.run(None, feeds)
            times.append(time.perf_counter() - t0)
        print(f"  alone: median {1000 * float(np.median(times)):.2f} ms per batch of {args.batch} x {args.seq} (150 runs)")


if __name__ == "__main__":
    main()
