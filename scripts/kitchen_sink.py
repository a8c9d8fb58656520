#!/usr/bin/env python3
"""Build models/io/kitchen-sink.onnx + kitchen-sink.expected.json.

A hand-built ONNX model (onnx.helper, IR version 9) that exercises as much of the protobuf schema
as onnx.helper can write, for round-trip tests of the TypeScript ONNX reader/writer:

* initializers of every TensorProto data type (1..28 in onnx 1.23), most of them twice: once in
  raw_data and once in the typed field (float_data/int32_data/int64_data/string_data/double_data/
  uint64_data); plus a scalar, an empty tensor and a tensor with a doc_string;
* a sparse initializer;
* node attributes of every AttributeProto type (FLOAT, INT, STRING, TENSOR, GRAPH, SPARSE_TENSOR,
  TYPE_PROTO, FLOATS, INTS, STRINGS, TENSORS, GRAPHS, SPARSE_TENSORS, TYPE_PROTOS), on a node of
  the custom domain com.example, and an If with two branch subgraphs;
* a model-local function (FunctionProto com.example.AddMul with an attribute reference);
* metadata_props, doc_strings, value_info with symbolic (dim_param), fixed (dim_value) and unknown
  dims, opset imports ai.onnx 18 + com.example 1 + ai.onnx.ml 3.

The model is not runnable (com.example.KitchenSink has no implementation); onnx.checker passes.
expected.json is produced from the proto objects by independent Python decoding (numpy_helper).

  python scripts/kitchen_sink.py [--out-dir models/io]
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import sys

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

T = TensorProto
IR_VERSION = 9
OPSETS = [("", 18), ("com.example", 1), ("ai.onnx.ml", 3)]

# values chosen exactly representable in each format (so "typed" and "raw" decode identically)
VALUES = {
    T.FLOAT: ([2, 3], [0.0, -0.0, 1.5, -2.25, 3.4028234663852886e38, 1.401298464324817e-45]),
    T.UINT8: ([2, 3], [0, 1, 7, 128, 254, 255]),
    T.INT8: ([2, 3], [-128, -1, 0, 1, 64, 127]),
    T.UINT16: ([2, 3], [0, 1, 255, 256, 40000, 65535]),
    T.INT16: ([2, 3], [-32768, -1, 0, 1, 1000, 32767]),
    T.INT32: ([2, 3], [-2147483648, -1, 0, 1, 123456789, 2147483647]),
    T.INT64: ([2, 3], [-9223372036854775808, -1, 0, 1, 9007199254740993, 9223372036854775807]),
    T.BOOL: ([2, 3], [True, False, False, True, True, False]),
    T.FLOAT16: ([2, 3], [0.0, 1.0, -2.5, 65504.0, 5.960464477539063e-08, 0.0999755859375]),
    T.DOUBLE: ([2, 3], [0.0, -1.5, 1e308, 5e-324, 3.141592653589793, -0.1]),
    T.UINT32: ([2, 3], [0, 1, 65536, 2147483648, 3000000000, 4294967295]),
    T.UINT64: ([2, 3], [0, 1, 4294967296, 9007199254740993, 9223372036854775808, 18446744073709551615]),
    T.COMPLEX64: ([3], [complex(1.0, 2.0), complex(-0.5, -0.25), complex(0.0, 3.0)]),
    T.COMPLEX128: ([3], [complex(1.0, -2.0), complex(1e300, -1e-300), complex(0.125, 0.0)]),
    T.BFLOAT16: ([2, 3], [0.0, 1.0, -2.5, 3.3895313892515355e38, 0.10009765625, -0.0009765625]),
    T.FLOAT8E4M3FN: ([2, 3], [0.0, 0.5, -1.75, 448.0, -448.0, 0.015625]),
    T.FLOAT8E4M3FNUZ: ([2, 3], [0.0, 0.5, -1.75, 240.0, -240.0, 0.0078125]),
    T.FLOAT8E5M2: ([2, 3], [0.0, 0.5, -1.5, 57344.0, -57344.0, 1.52587890625e-05]),
    T.FLOAT8E5M2FNUZ: ([2, 3], [0.0, 0.5, -1.5, 57344.0, -57344.0, 7.62939453125e-06]),
    T.UINT4: ([5], [0, 1, 7, 8, 15]),             # odd count: last byte half-used
    T.INT4: ([5], [-8, -1, 0, 1, 7]),
    T.FLOAT4E2M1: ([5], [0.0, 0.5, -1.5, 6.0, -3.0]),
    T.FLOAT8E8M0: ([2, 3], [1.0, 2.0, 0.5, 1024.0, 2.0 ** -100, 2.0 ** 100]),
    T.UINT2: ([7], [0, 1, 2, 3, 3, 2, 1]),         # 7 elements: last byte 3/4 used
    T.INT2: ([7], [-2, -1, 0, 1, 1, 0, -1]),
    T.FLOAT6E2M3: ([5], [0.0, 0.125, -1.5, 7.5, -7.5]),
    T.FLOAT6E3M2: ([5], [0.0, 0.0625, -1.5, 28.0, -28.0]),
}
STRINGS = [b"", b"hello", "\u00fcn\u00efc\u00f8d\u00e9 \u2713".encode("utf-8"), b"\x00\xffbinary\n"]


def dtype_name(dt: int) -> str:
    return T.DataType.Name(dt)


def _np_values(dt, vals):
    np_dtype = helper.tensor_dtype_to_np_dtype(dt)
    return np.asarray(vals, dtype=np_dtype)


def make_initializers():
    inits = []
    for dt, (dims, vals) in VALUES.items():
        lname = dtype_name(dt).lower()
        arr = _np_values(dt, vals).reshape(dims)
        inits.append(helper.make_tensor(f"t_{lname}_raw", dt, dims, arr.flatten(), raw=True))
        inits.append(helper.make_tensor(f"t_{lname}_typed", dt, dims, list(arr.flatten()), raw=False))
    inits.append(helper.make_tensor("t_string_typed", T.STRING, [2, 2], STRINGS))
    # edge cases
    inits.append(helper.make_tensor("t_float_scalar", T.FLOAT, [], [42.5]))
    inits.append(helper.make_tensor("t_int64_empty", T.INT64, [0, 3], np.zeros((0,), np.int64), raw=True))
    doc = numpy_helper.from_array(np.array([1, 2, 3, 4], np.float32), "t_float_doc")
    doc.doc_string = "an initializer with a doc_string (raw_data via numpy_helper.from_array)"
    inits.append(doc)
    # self-check: raw and typed variants decode to the same values
    by_name = {t.name: numpy_helper.to_array(t) for t in inits if t.data_type != T.STRING}
    for dt in VALUES:
        lname = dtype_name(dt).lower()
        a, b = by_name[f"t_{lname}_raw"], by_name[f"t_{lname}_typed"]
        assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), lname
    return inits


def make_sparse(name, dims, values, indices, idx_shape):
    v = helper.make_tensor(name, T.FLOAT, [len(values)], values)
    i = helper.make_tensor(name + "_indices", T.INT64, idx_shape, indices)
    return helper.make_sparse_tensor(v, i, dims)


def make_model() -> onnx.ModelProto:
    batch = "batch"
    X = helper.make_tensor_value_info("X", T.FLOAT, [batch, 4], doc_string="input with a symbolic dim")
    cond = helper.make_tensor_value_info("cond", T.BOOL, [])
    ids = helper.make_tensor_value_info("ids", T.INT64, [batch, None])  # unknown 2nd dim
    Y = helper.make_tensor_value_info("Y", T.FLOAT, [batch, 4])
    C_out = helper.make_tensor_value_info("C", T.FLOAT, [batch, 4])
    vi = [
        helper.make_tensor_value_info("A", T.FLOAT, [batch, 4], doc_string="value_info: symbolic + fixed"),
        helper.make_tensor_value_info("B", T.FLOAT, [batch, 4]),
        helper.make_tensor_value_info("E", T.FLOAT, [2, 3]),
    ]

    # function: c = (a + b) * alpha
    fn = helper.make_function(
        "com.example", "AddMul", ["a", "b"], ["c"],
        [
            helper.make_node("Add", ["a", "b"], ["s"], name="fn_add"),
            _constant_from_attr_ref(),
            helper.make_node("Mul", ["s", "k"], ["c"], name="fn_mul"),
        ],
        [helper.make_opsetid("", 18)],
        attributes=["alpha"],
        doc_string="model-local function: (a + b) * alpha",
    )

    then_g = helper.make_graph(
        [helper.make_node("Identity", ["B"], ["then_out"], name="then_identity")],
        "then_body", [], [helper.make_tensor_value_info("then_out", T.FLOAT, [batch, 4])],
        doc_string="If then-branch (reads outer-scope B)")
    else_g = helper.make_graph(
        [helper.make_node("Neg", ["B"], ["else_out"], name="else_neg")],
        "else_body", [], [helper.make_tensor_value_info("else_out", T.FLOAT, [batch, 4])],
        doc_string="If else-branch")
    attr_g1 = helper.make_graph(
        [helper.make_node("Relu", ["gx"], ["gy"], name="g1_relu")], "attr_graph_1",
        [helper.make_tensor_value_info("gx", T.FLOAT, [3])],
        [helper.make_tensor_value_info("gy", T.FLOAT, [3])],
        initializer=[helper.make_tensor("g1_init", T.FLOAT, [1], [0.25])])
    attr_g2 = helper.make_graph(
        [helper.make_node("Sigmoid", ["hx"], ["hy"], name="g2_sigmoid")], "attr_graph_2",
        [helper.make_tensor_value_info("hx", T.FLOAT, ["n"])],
        [helper.make_tensor_value_info("hy", T.FLOAT, ["n"])])
    attr_g3 = helper.make_graph(
        [helper.make_node("Abs", ["ax"], ["ay"], name="g3_abs")], "attr_graph_3",
        [helper.make_tensor_value_info("ax", T.INT32, [2])],
        [helper.make_tensor_value_info("ay", T.INT32, [2])])

    tp_tensor = helper.make_tensor_type_proto(T.FLOAT, ["N", 3])
    tp_seq = helper.make_sequence_type_proto(helper.make_tensor_type_proto(T.INT64, [None]))
    tp_opt = helper.make_optional_type_proto(helper.make_tensor_type_proto(T.DOUBLE, []))
    tp_map = helper.make_map_type_proto(T.STRING, helper.make_tensor_type_proto(T.FLOAT, [2]))

    ks_attrs = dict(
        f_attr=0.5,
        i_attr=-7,
        s_attr="hello \u00e9",
        t_attr=helper.make_tensor("t_attr_value", T.FLOAT, [2], [1.25, -4.0]),
        g_attr=attr_g1,
        floats_attr=[1.0, -2.5, 0.1],
        ints_attr=[1, -2, 1099511627776],
        strings_attr=["a", "bc", ""],
        tensors_attr=[helper.make_tensor("ta0", T.INT64, [2], [5, -6]),
                      helper.make_tensor("ta1", T.STRING, [1], [b"xyz"]),
                      helper.make_tensor("ta2", T.FLOAT16, [2], [1.5, -0.5], raw=False)],
        graphs_attr=[attr_g2, attr_g3],
        sparse_attr=make_sparse("sp_attr", [3, 4], [1.0, 2.0], [0, 1, 2, 3], [2, 2]),
        sparse_list_attr=[make_sparse("sp_a", [10], [5.0], [7], [1]),
                          make_sparse("sp_b", [2, 2], [-1.0, 1.0], [0, 3], [2])],
        tp_attr=tp_tensor,
        tps_attr=[tp_seq, tp_opt, tp_map],
    )

    nodes = [
        helper.make_node("Add", ["X", "t_float_doc"], ["A"], name="add0",
                         doc_string="broadcast add with an initializer"),
        helper.make_node("AddMul", ["A", "t_float_doc"], ["B"], name="call_addmul",
                         domain="com.example", alpha=2.0),
        helper.make_node("If", ["cond"], ["C"], name="if0", then_branch=then_g, else_branch=else_g),
        helper.make_node("KitchenSink", ["C", "ids"], ["Y", "E"], name="sink", domain="com.example",
                         doc_string="custom-domain node carrying every attribute type", **ks_attrs),
    ]
    # give a few attributes doc_strings
    for a in nodes[3].attribute:
        if a.name in ("f_attr", "g_attr"):
            a.doc_string = f"doc of {a.name}"

    graph = helper.make_graph(
        nodes, "kitchen_sink", [X, cond, ids], [Y, C_out], initializer=make_initializers(),
        doc_string="graph doc_string", value_info=vi,
        sparse_initializer=[make_sparse("sp_init", [4, 5], [0.5, -1.0, 2.0], [1, 7, 19], [3])],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid(d, v) for d, v in OPSETS], functions=[fn],
        producer_name="onnx-distill-fixtures", producer_version="1.0", domain="dev.onnx-distill",
        model_version=3, doc_string="kitchen-sink model for protobuf round-trip tests",
        ir_version=IR_VERSION,
    )
    helper.set_model_props(model, {"author": "onnx-distill", "purpose": "round-trip test",
                                   "unicode": "\u00fcn\u00efc\u00f8d\u00e9 \u2713", "empty": ""})
    return model


def _constant_from_attr_ref():
    node = helper.make_node("Constant", [], ["k"], name="fn_const")
    node.attribute.append(helper.make_attribute_ref("value_float", AttributeProto.FLOAT))
    node.attribute[0].ref_attr_name = "alpha"
    return node


# --------------------------------------------------------------------------------------------
# expected.json (independent decoding with numpy_helper)
# --------------------------------------------------------------------------------------------

def _json_values(t: TensorProto):
    dt = t.data_type
    if dt == T.STRING:
        return [base64.b64encode(s).decode("ascii") for s in t.string_data]
    a = numpy_helper.to_array(t).flatten()
    if dt in (T.INT64, T.UINT64):
        return [str(int(x)) for x in a]
    if dt == T.BOOL:
        return [bool(x) for x in a]
    if dt in (T.COMPLEX64, T.COMPLEX128):
        out = []
        for x in a:
            out += [float(x.real), float(x.imag)]
        return out
    if dt in (T.UINT8, T.INT8, T.UINT16, T.INT16, T.INT32, T.UINT32, T.UINT4, T.INT4, T.UINT2, T.INT2):
        return [int(x) for x in a.astype(np.int64)]
    return [float(x) for x in a.astype(np.float64)]


_TYPED_FIELDS = ("float_data", "int32_data", "string_data", "int64_data", "double_data", "uint64_data")


def _storage(t: TensorProto):
    if t.HasField("raw_data"):
        return "raw_data", {"base64": base64.b64encode(t.raw_data).decode("ascii"), "bytes": len(t.raw_data)}
    for f in _TYPED_FIELDS:
        vals = list(getattr(t, f))
        if vals:
            if f == "string_data":
                vals = [base64.b64encode(v).decode("ascii") for v in vals]
            elif f in ("int64_data", "uint64_data"):
                vals = [str(v) for v in vals]
            return f, {"values": vals}
    return "none", {}


def tensor_json(t: TensorProto, with_values=True):
    field, stored = _storage(t)
    d = {"name": t.name, "data_type": t.data_type, "data_type_name": dtype_name(t.data_type),
         "dims": [int(x) for x in t.dims]}
    if with_values:
        d["values"] = _json_values(t)
    d["storage"] = field
    d["stored"] = stored
    if t.doc_string:
        d["doc_string"] = t.doc_string
    return d


def sparse_json(s):
    return {"dims": [int(x) for x in s.dims], "values": tensor_json(s.values), "indices": tensor_json(s.indices)}


def type_json(tp):
    which = tp.WhichOneof("value")
    if which == "tensor_type":
        tt = tp.tensor_type
        return {"kind": "tensor", "elem_type": tt.elem_type, "elem_type_name": dtype_name(tt.elem_type),
                "dims": [_dim(d) for d in tt.shape.dim] if tt.HasField("shape") else None}
    if which == "sequence_type":
        return {"kind": "sequence", "elem": type_json(tp.sequence_type.elem_type)}
    if which == "optional_type":
        return {"kind": "optional", "elem": type_json(tp.optional_type.elem_type)}
    if which == "map_type":
        return {"kind": "map", "key_type": tp.map_type.key_type, "value": type_json(tp.map_type.value_type)}
    return {"kind": which}


def _dim(d):
    w = d.WhichOneof("value")
    return d.dim_value if w == "dim_value" else d.dim_param if w == "dim_param" else None


def vi_json(v):
    d = {"name": v.name}
    t = type_json(v.type)
    d["elem_type"] = t.get("elem_type")
    d["elem_type_name"] = t.get("elem_type_name")
    d["dims"] = t.get("dims")
    if v.doc_string:
        d["doc_string"] = v.doc_string
    return d


def attr_json(a):
    tname = AttributeProto.AttributeType.Name(a.type)
    d = {"name": a.name, "type": tname, "type_int": int(a.type)}
    if a.ref_attr_name:
        d["ref_attr_name"] = a.ref_attr_name
        return d
    if a.doc_string:
        d["doc_string"] = a.doc_string
    if a.type == AttributeProto.FLOAT:
        d["value"] = float(a.f)
    elif a.type == AttributeProto.INT:
        d["value"] = str(a.i)
    elif a.type == AttributeProto.STRING:
        d["value_base64"] = base64.b64encode(a.s).decode("ascii")
    elif a.type == AttributeProto.FLOATS:
        d["value"] = [float(x) for x in a.floats]
    elif a.type == AttributeProto.INTS:
        d["value"] = [str(x) for x in a.ints]
    elif a.type == AttributeProto.STRINGS:
        d["value_base64"] = [base64.b64encode(x).decode("ascii") for x in a.strings]
    elif a.type == AttributeProto.TENSOR:
        d["value"] = tensor_json(a.t)
    elif a.type == AttributeProto.TENSORS:
        d["value"] = [tensor_json(t) for t in a.tensors]
    elif a.type == AttributeProto.GRAPH:
        d["value"] = graph_json(a.g)
    elif a.type == AttributeProto.GRAPHS:
        d["value"] = [graph_json(g) for g in a.graphs]
    elif a.type == AttributeProto.SPARSE_TENSOR:
        d["value"] = sparse_json(a.sparse_tensor)
    elif a.type == AttributeProto.SPARSE_TENSORS:
        d["value"] = [sparse_json(s) for s in a.sparse_tensors]
    elif a.type == AttributeProto.TYPE_PROTO:
        d["value"] = type_json(a.tp)
    elif a.type == AttributeProto.TYPE_PROTOS:
        d["value"] = [type_json(t) for t in a.type_protos]
    return d


def node_json(n):
    d = {"name": n.name, "op_type": n.op_type, "domain": n.domain, "inputs": list(n.input),
         "outputs": list(n.output), "attributes": [attr_json(a) for a in n.attribute]}
    if n.doc_string:
        d["doc_string"] = n.doc_string
    return d


def graph_json(g, top=False):
    d = {"name": g.name, "doc_string": g.doc_string,
         "inputs": [vi_json(v) for v in g.input], "outputs": [vi_json(v) for v in g.output],
         "value_info": [vi_json(v) for v in g.value_info],
         "nodes": [node_json(n) for n in g.node],
         "initializers": [tensor_json(t) for t in g.initializer],
         "sparse_initializers": [sparse_json(s) for s in g.sparse_initializer]}
    return d


def expected_json(model: onnx.ModelProto, checker: dict):
    return {
        "ir_version": model.ir_version,
        "opset_import": [{"domain": o.domain, "version": o.version} for o in model.opset_import],
        "producer_name": model.producer_name,
        "producer_version": model.producer_version,
        "domain": model.domain,
        "model_version": model.model_version,
        "doc_string": model.doc_string,
        "metadata": {p.key: p.value for p in model.metadata_props},
        "metadata_props": [[p.key, p.value] for p in model.metadata_props],
        "checker": checker,
        "graph": graph_json(model.graph, top=True),
        "functions": [{
            "name": f.name, "domain": f.domain, "inputs": list(f.input), "outputs": list(f.output),
            "attributes": list(f.attribute), "doc_string": f.doc_string,
            "opset_import": [{"domain": o.domain, "version": o.version} for o in f.opset_import],
            "nodes": [node_json(n) for n in f.node],
            "op_types": [n.op_type for n in f.node],
        } for f in model.functions],
        "notes": [
            "values: flat row-major; float types (incl. float16/bfloat16/float8/float4/float6) as the "
            "float values they decode to; int64/uint64 as decimal strings; STRING as base64 of the bytes; "
            "complex as [re0, im0, re1, im1, ...]; bool as true/false; other ints as numbers.",
            "storage: which TensorProto field holds the data; stored: the exact field content "
            "(raw_data as base64; typed fields as lists, 64-bit ints as strings).",
            "typed-field packing (onnx.helper): float16/bfloat16/float8/float8e8m0 as bit patterns in "
            "int32_data, one element per entry; uint4/int4/float4e2m1 packed two per int32_data entry "
            "(low nibble first); uint2/int2 packed four per entry; float6 one element per entry "
            "(but packed 6-bit in raw_data); bool as 0/1; complex64 interleaved in float_data, "
            "complex128 in double_data; uint32/uint64 in uint64_data.",
            "INT attribute values and INTS entries are decimal strings.",
        ],
    }


def write(out_dir: str):
    os.makedirs(out_dir, exist_ok=True)
    model = make_model()
    try:
        onnx.checker.check_model(model, full_check=False)
        checker = {"check_model": "passed"}
    except Exception as e:  # pragma: no cover
        checker = {"check_model": "failed", "error": str(e)}
    path = os.path.join(out_dir, "kitchen-sink.onnx")
    onnx.save_model(model, path)
    # round trip through protobuf bytes before describing it
    reloaded = onnx.load(path)
    assert reloaded.SerializeToString() == model.SerializeToString()
    with open(os.path.join(out_dir, "kitchen-sink.expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected_json(reloaded, checker), f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"[kitchen_sink] {path}: {len(model.graph.initializer)} initializers, checker {checker}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models", "io"))
    args = ap.parse_args(argv)
    write(args.out_dir)


if __name__ == "__main__":
    sys.exit(main())
