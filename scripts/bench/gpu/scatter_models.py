#!/usr/bin/env python3
"""Tiny ScatterND / ScatterElements (reduction="add") models for scripts/bench/gpu/scatter-check.mjs: the op the
Gather gradient first used (ScatterND, which races on ORT's CPU provider) and the one it uses for long tables
now (ScatterElements, src/autodiff/rules/gather.ts), each run alone so that a wrong result on an execution
provider can be told apart from the rest of a training step.

  python3 scripts/bench/gpu/scatter_models.py OUTDIR
writes OUTDIR/scatternd_add.onnx (data [R, D], indices [N, 1] int64, updates [N, D]) and
OUTDIR/scatterelements_add.onnx (data [1, R, D], indices [1, N, D] int64, updates [1, N, D], axis 1).
"""
import os
import sys

import onnx
from onnx import TensorProto, helper

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
f, i64 = TensorProto.FLOAT, TensorProto.INT64
nd = helper.make_graph(
    [helper.make_node("ScatterND", ["data", "indices", "updates"], ["y"], reduction="add")],
    "scatternd_add",
    [helper.make_tensor_value_info("data", f, ["R", "D"]), helper.make_tensor_value_info("indices", i64, ["N", 1]),
     helper.make_tensor_value_info("updates", f, ["N", "D"])],
    [helper.make_tensor_value_info("y", f, ["R", "D"])])
el = helper.make_graph(
    [helper.make_node("ScatterElements", ["data", "indices", "updates"], ["y"], axis=1, reduction="add")],
    "scatterelements_add",
    [helper.make_tensor_value_info("data", f, [1, "R", "D"]), helper.make_tensor_value_info("indices", i64, [1, "N", "D"]),
     helper.make_tensor_value_info("updates", f, [1, "N", "D"])],
    [helper.make_tensor_value_info("y", f, [1, "R", "D"])])
for g in (nd, el):
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)
    onnx.checker.check_model(m)
    onnx.save(m, os.path.join(out, g.name + ".onnx"))
print(f"[scatter_models] {out}: scatternd_add.onnx, scatterelements_add.onnx")
