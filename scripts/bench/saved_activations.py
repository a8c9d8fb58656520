#!/usr/bin/env python3
"""Saved activations of a training-step graph: the forward values that backward nodes read, which therefore
stay in memory from their forward use until the backward (docs/AUTODIFF.md, "Saved activations").

    python3 scripts/bench/saved_activations.py .bench/base/artifacts/train_step.onnx 8 128

Symbolic input dims are fixed (batch-like names to <batch>, the rest to <seq>), ONNX shape inference sizes
every value, and the graph's own node order gives the lifetimes. Backward nodes are those named 'grad/...'.
Prints the total and the values grouped by producer op and by name (layer numbers folded together).
"""
import collections
import re
import sys

import onnx
from onnx import shape_inference

LAYER = re.compile(r'layer[._]\d+')
BYTES = {onnx.TensorProto.FLOAT: 4, onnx.TensorProto.DOUBLE: 8, onnx.TensorProto.INT64: 8,
         onnx.TensorProto.INT32: 4, onnx.TensorProto.BOOL: 1, onnx.TensorProto.FLOAT16: 2}


def fix_input_dims(graph, batch, seq):
    for value in graph.input:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                name = dim.dim_param
                dim.ClearField('dim_param')
                dim.dim_value = batch if 'batch' in name else seq


def sizes_of(graph):
    sizes = {}
    for value in list(graph.value_info) + list(graph.output):
        t = value.type.tensor_type
        if not t.HasField('shape') or any(not d.HasField('dim_value') for d in t.shape.dim):
            continue
        n = 1
        for d in t.shape.dim:
            n *= d.dim_value
        sizes[value.name] = n * BYTES.get(t.elem_type, 4)
    return sizes


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    path, batch, seq = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    model = onnx.load(path, load_external_data=False)
    fix_input_dims(model.graph, batch, seq)
    graph = shape_inference.infer_shapes(model, data_prop=True).graph
    sizes = sizes_of(graph)
    nodes = list(graph.node)
    first_backward = next((i for i, n in enumerate(nodes) if n.name.startswith('grad/')), None)
    if first_backward is None:
        sys.exit(f'{path}: no backward nodes (named grad/...)')
    last_read = {}
    for i, n in enumerate(nodes):
        for name in n.input:
            last_read[name] = i
    producer = {out: n for n in nodes[:first_backward] for out in n.output}
    saved = {v: sizes[v] for v in producer if v in sizes and last_read.get(v, -1) >= first_backward}
    total = sum(saved.values())
    print(f'{path}: {len(nodes)} nodes; {len(saved)} forward values read by the backward, {total / 1e6:.0f} MB')
    by_op = collections.Counter()
    by_name = collections.Counter()
    count = collections.Counter()
    for v, size in saved.items():
        by_op[producer[v].op_type] += size
        key = f'{producer[v].op_type:<20} {LAYER.sub("layer.N", v)}'
        by_name[key] += size
        count[key] += 1
    print('by producer op (MB): ' + ', '.join(f'{op} {size / 1e6:.0f}' for op, size in by_op.most_common() if size >= 5e5))
    for key, size in by_name.most_common(20):
        print(f'{size / 1e6:8.1f} MB  x{count[key]:<3} {key}')


if __name__ == '__main__':
    main()
