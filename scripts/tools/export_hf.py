#!/usr/bin/env python3
"""Export a Hugging Face transformer to ONNX for onnx-distill.

  python scripts/tools/export_hf.py --model DIR_OR_CONFIG_JSON --task seq-cls|token-cls|causal-lm
      --out OUT.onnx [--exporter torchscript|dynamo] [--mode eval|train] [--opset N]
      [--tokenizer tokenizer.json]

--model is either a local HF model folder (loaded with from_pretrained) or a config.json
(a model with random weights is built from it; see --seed / --no-perturb).

The ONNX file has int64 inputs `input_ids`, `attention_mask` of shape [batch, sequence] and one
float output `logits` ([batch, num_labels], [batch, sequence, num_labels] or
[batch, sequence, vocab_size]).  Every trainable HF parameter is exactly one ONNX initializer
(no constant folding of weights, tied weights stay tied); the mapping is written to a sidecar
JSON next to the model (X.onnx -> X.distill.json, model.onnx -> distill.json) together with
the task metadata.  A tokenizer.json given with --tokenizer is copied next to the model.

--mode train keeps Dropout nodes (training_mode=true): the torchscript exporter is run with
training=TrainingMode.TRAINING, the dynamo exporter traces the model in train() mode (aten.dropout
becomes an ONNX Dropout node).

After export, onnxruntime is run on a padded sample batch and compared with PyTorch (the max
absolute difference is printed; the export fails if it is >= 1e-4).  In train mode the check is
run on a copy of the graph whose Dropout nodes are switched to inference.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import json
import os
import shutil
import sys
import tempfile
import warnings

import numpy as np
import onnx
import torch

TASKS = ("seq-cls", "token-cls", "causal-lm")
EXPORTERS = ("torchscript", "dynamo")
MODES = ("eval", "train")
DEFAULT_OPSET = {"torchscript": 17, "dynamo": 18}
DEFAULT_IR_VERSION = 9  # onnxruntime-node 1.30 accepts IR <= 13; we stay at <= 10
MAX_IR_VERSION = 10
TOLERANCE = 1e-4
SIDECAR_FORMAT = 1


# --------------------------------------------------------------------------------------------
# model loading
# --------------------------------------------------------------------------------------------

def _auto_class(task: str):
    import transformers

    return {
        "seq-cls": transformers.AutoModelForSequenceClassification,
        "token-cls": transformers.AutoModelForTokenClassification,
        "causal-lm": transformers.AutoModelForCausalLM,
    }[task]


@torch.no_grad()
def perturb_parameters(model: torch.nn.Module, seed: int, scale: float = 0.02) -> None:
    """Add seeded N(0, scale^2) noise to every parameter.

    Random init leaves biases at exactly 0 and LayerNorm weights at exactly 1; that makes the
    by-value ONNX<->HF parameter matching ambiguous, lets exporters merge equal initializers, and
    hides gamma/beta mix-ups in gradient tests.  Tied parameters are perturbed once.
    """
    g = torch.Generator().manual_seed(seed)
    for _, p in model.named_parameters():  # unique parameters, in registration order
        p.add_(torch.randn(p.shape, generator=g, dtype=torch.float32).to(p.dtype) * scale)


def load_model(model_arg: str, task: str, attn_implementation: str = "eager", seed: int = 0,
               perturb: bool = True):
    """Load an HF model folder, or build a random-init model from a config.json path."""
    import transformers

    cls = _auto_class(task)
    if os.path.isdir(model_arg):
        model = cls.from_pretrained(model_arg, attn_implementation=attn_implementation,
                                    dtype=torch.float32)
    elif os.path.isfile(model_arg):
        with open(model_arg, "r", encoding="utf-8") as f:
            cfg_dict = json.load(f)
        model_type = cfg_dict.pop("model_type")
        cfg = transformers.AutoConfig.for_model(model_type, **cfg_dict)
        torch.manual_seed(seed)
        model = cls.from_config(cfg, attn_implementation=attn_implementation)
        model = model.float()
        if perturb:
            perturb_parameters(model, seed + 1)
    else:
        raise SystemExit(f"--model {model_arg!r}: not a folder or a config.json file")
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False
    model.eval()
    return model


def _resolve_onnx_path(folder_or_onnx: str) -> str:
    if os.path.isdir(folder_or_onnx):
        path = os.path.join(folder_or_onnx, "model.onnx")
    else:
        path = folder_or_onnx
    if not (path.endswith(".onnx") and os.path.isfile(path)):
        raise SystemExit(f"{folder_or_onnx!r}: no ONNX file (expected X.onnx or a folder with model.onnx)")
    return path


def hf_state_dict_from_onnx(proto: onnx.ModelProto, sidecar: dict) -> dict:
    """{hf_name: float32 tensor} from the ONNX initializers through the sidecar's `parameters`
    map (undoing `transpose`); every name of a tied group gets the same tensor."""
    from onnx import numpy_helper

    inits = {i.name: i for i in proto.graph.initializer}
    groups = {names[0]: names for names in sidecar.get("tied") or []}
    state = {}
    for init_name, m in sidecar["parameters"].items():
        if init_name not in inits:
            raise SystemExit(f"sidecar parameter {init_name!r} is not an initializer of the ONNX file")
        a = numpy_helper.to_array(inits[init_name]).astype(np.float32, copy=False)
        t = torch.from_numpy(np.ascontiguousarray(a.T if m["transpose"] else a).copy())
        for name in groups.get(m["name"], [m["name"]]):
            if name in state:
                raise SystemExit(f"HF parameter {name} is mapped from more than one initializer")
            state[name] = t
    return state


def load_hf_from_onnx(folder_or_onnx: str, attn_implementation: str = "eager",
                      config_path: str | None = None, check: bool = True):
    """Rebuild the HF model of an exported fixture without an HF checkpoint.

    The model is built from `config.json` (next to the ONNX file, or `config_path`) with the
    AutoModel class of the sidecar's task, and every trainable parameter is loaded from the ONNX
    initializers through the sidecar's `parameters` map (transposed back where `transpose` is
    true; both names of a tied weight).  Buffers that are not parameters (BERT's position_ids /
    token_type_ids, ...) keep the values the config gives them.  With `check` (default) the
    PyTorch logits are compared with onnxruntime on the two export-check batches and must agree
    to < 1e-5.  Returns the model in eval mode, float32.
    """
    import transformers

    path = _resolve_onnx_path(folder_or_onnx)
    with open(sidecar_path(path), encoding="utf-8") as f:
        side = json.load(f)
    cfg_file = config_path or os.path.join(os.path.dirname(os.path.abspath(path)), "config.json")
    if not os.path.isfile(cfg_file):
        raise SystemExit(f"{path}: no config.json next to it (pass config_path)")
    cfg = transformers.AutoConfig.from_pretrained(cfg_file)
    model = _auto_class(side["task"]).from_config(cfg, attn_implementation=attn_implementation,
                                                  dtype=torch.float32)
    model = model.float()
    proto = onnx.load(path)  # external data (if any) is resolved relative to the file
    state = hf_state_dict_from_onnx(proto, side)
    params = {n for n, _ in model.named_parameters(remove_duplicate=False)}
    missing = sorted(params - state.keys())
    unexpected = sorted(state.keys() - params)
    if missing or unexpected:
        raise SystemExit(f"{path}: sidecar map does not cover the HF parameters: "
                         f"missing {missing}, unexpected {unexpected}")
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys, result.unexpected_keys
    assert not set(result.missing_keys) & params, result.missing_keys  # only buffers may be missing
    for name, p in model.named_parameters(remove_duplicate=False):
        assert torch.equal(p.detach(), state[name]), f"{name} not loaded"
    if getattr(model.config, "use_cache", None):
        model.config.use_cache = False
    model.eval()
    if check:
        pad = getattr(model.config, "pad_token_id", None)
        diff = verify(proto, model, int(model.config.vocab_size), 0 if pad is None else int(pad),
                      side.get("mode", "eval"))
        assert diff < 1e-5, f"{path}: PyTorch (weights from ONNX) vs onnxruntime logits differ by {diff}"
    return model


@contextlib.contextmanager
def logits_only(model):
    """Temporarily make model.forward(input_ids, attention_mask) -> logits.

    The forward is overridden on the instance (not wrapped in a new module) so the parameter
    names the exporters see are exactly the HF state_dict names."""
    orig = model.forward

    def forward(input_ids, attention_mask):
        return orig(input_ids=input_ids, attention_mask=attention_mask).logits

    model.forward = forward
    try:
        yield model
    finally:
        del model.forward


# --------------------------------------------------------------------------------------------
# sample batch
# --------------------------------------------------------------------------------------------

def sample_batch(vocab_size: int, pad_id: int = 0, batch: int = 3, seq: int = 8, seed: int = 0):
    """Seeded batch with right padding: row 1 loses its last 3 tokens, row 2 its last 5
    (for batch >= 3; other rows unpadded).  input_ids are in [1, vocab_size) except pad_id at
    padded positions."""
    g = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(1, vocab_size, (batch, seq), generator=g, dtype=torch.int64)
    attention_mask = torch.ones((batch, seq), dtype=torch.int64)
    pads = [0, 3, 5]
    for row in range(batch):
        n = pads[row] if row < len(pads) else (row * 2) % max(seq - 1, 1)
        n = min(n, seq - 1)
        if n:
            attention_mask[row, seq - n:] = 0
            input_ids[row, seq - n:] = pad_id
    return input_ids, attention_mask


# --------------------------------------------------------------------------------------------
# exporters
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _torchscript_dedup_by_identity_only():
    """The TorchScript exporter merges initializers that are *equal in value* when the model is
    in eval mode (keeping them distinct only in training mode).  Merging two different
    parameters that happen to be equal (e.g. untrained zero biases) breaks the 1:1 mapping, so
    force the training-mode behaviour: merge only tensors sharing storage (tied weights)."""
    orig = torch._C._jit_pass_onnx_deduplicate_initializers

    def patched(graph, params_dict, is_train):
        return orig(graph, params_dict, True)

    torch._C._jit_pass_onnx_deduplicate_initializers = patched
    try:
        yield
    finally:
        torch._C._jit_pass_onnx_deduplicate_initializers = orig


def export_torchscript(model, sample, opset: int, mode: str) -> onnx.ModelProto:
    training = torch.onnx.TrainingMode.TRAINING if mode == "train" else torch.onnx.TrainingMode.EVAL
    model.train(mode == "train")
    dyn = {
        "input_ids": {0: "batch", 1: "sequence"},
        "attention_mask": {0: "batch", 1: "sequence"},
        "logits": {0: "batch"},
    }
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "model.onnx")
        with warnings.catch_warnings(), _torchscript_dedup_by_identity_only(), \
                logits_only(model) as wrapper:
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper, tuple(sample), path,
                input_names=["input_ids", "attention_mask"], output_names=["logits"],
                dynamic_axes=dyn, opset_version=opset, do_constant_folding=False,
                training=training, dynamo=False, export_params=True,
                keep_initializers_as_inputs=False,
            )
        proto = onnx.load(path)
    model.eval()
    # torchscript names the sequence axis of 3-D logits after an internal node
    # (e.g. "MatMullogits_dim_1"); call it "sequence" like the inputs
    dims = proto.graph.output[0].type.tensor_type.shape.dim
    if len(dims) == 3 and not dims[1].HasField("dim_value"):
        dims[1].dim_param = "sequence"
    return proto


def _param_preserving_rewrite_rules():
    from onnxscript import rewriter

    drop = ("FuseBatchNorm", "RemoveOptionalBias", "FuseConv", "NormalizePad")
    return [r for r in rewriter._DEFAULT_REWRITE_RULES
            if not any(str(getattr(r, "name", "") or "").startswith(d) for d in drop)]


def optimize_keep_parameters(ir_model, param_names: set[str]) -> None:
    """onnxscript's default optimizer, minus everything that rewrites parameters.

    torch.onnx.export(dynamo=True, optimize=True) constant-folds Transpose(weight) into new
    pre-transposed initializers and runs DeduplicateInitializersPass (merges equal-valued
    initializers) and RemoveOptionalBias (drops all-zero biases).  Here we run the same pass
    pipeline but: never fold a node that reads a parameter initializer, and skip
    initializer deduplication / conv-bias / batch-norm rules.
    """
    import onnx_ir as ir
    import onnx_ir.passes.common as common_passes
    from onnxscript import rewriter
    from onnxscript.optimizer import _constant_folding

    def should_fold(node):
        for v in node.inputs:
            if v is not None and v.is_initializer() and v.name in param_names:
                return False
        return None

    passes = ir.passes.Sequential(
        common_passes.InlinePass(),
        ir.passes.PassManager(
            [
                _constant_folding.FoldConstantsPass(
                    shape_inference=True,
                    input_size_limit=_constant_folding.DEFAULT_CONSTANT_FOLD_INPUT_SIZE_LIMIT,
                    output_size_limit=_constant_folding.DEFAULT_CONSTANT_FOLD_OUTPUT_SIZE_LIMIT,
                    should_fold=should_fold,
                ),
                rewriter.RewritePass(_param_preserving_rewrite_rules()),
                common_passes.RemoveUnusedNodesPass(),
                common_passes.RemoveUnusedFunctionsPass(),
                common_passes.RemoveUnusedOpsetsPass(),
            ],
            steps=2,
            early_stop=True,
        ),
        common_passes.RemoveUnusedNodesPass(),
        common_passes.CommonSubexpressionEliminationPass(),
        common_passes.OutputFixPass(),
        common_passes.NameFixPass(),
    )
    passes(ir_model)


def export_dynamo(model, sample, opset: int, mode: str) -> onnx.ModelProto:
    model.train(mode == "train")  # torch.export traces aten.dropout -> ONNX Dropout(training_mode=True)
    batch = torch.export.Dim("batch")
    seq = torch.export.Dim("sequence", max=int(_max_positions(model.config)))
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr), \
            logits_only(model) as wrapper:
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            wrapper, tuple(sample), None,
            input_names=["input_ids", "attention_mask"], output_names=["logits"],
            dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}},
            opset_version=opset, dynamo=True, optimize=False, verify=False, report=False,
        )
    model.eval()
    param_names = {n for n, _ in model.named_parameters(remove_duplicate=False)}
    optimize_keep_parameters(program.model, param_names)
    proto = program.model_proto
    strip_metadata_props(proto)
    return proto


def _graphs(g: onnx.GraphProto):
    """The graph and every subgraph inside it (Loop/If/Scan bodies), depth first."""
    yield g
    for n in g.node:
        for a in n.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(a.g)
            for sg in a.graphs:
                yield from _graphs(sg)


def strip_metadata_props(proto: onnx.ModelProto) -> None:
    """Remove metadata_props from nodes/values/tensors (IR-10 fields).

    The dynamo exporter attaches per-node metadata (pkg.torch.onnx.stack_trace with absolute
    source paths, fx node names, ...).  It is ~50% of a small model's bytes, differs between
    machines, and NodeProto/ValueInfoProto/TensorProto.metadata_props do not exist in IR 9."""

    for g in _graphs(proto.graph):
        if hasattr(g, "metadata_props"):
            g.ClearField("metadata_props")
        for v in list(g.input) + list(g.output) + list(g.value_info):
            v.ClearField("metadata_props")
        for t in g.initializer:
            t.ClearField("metadata_props")
        for n in g.node:
            n.ClearField("metadata_props")
    for f in proto.functions:
        for n in f.node:
            n.ClearField("metadata_props")

def _max_positions(config) -> int:
    for k in ("max_position_embeddings", "n_positions", "n_ctx"):
        v = getattr(config, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return 4096


# --------------------------------------------------------------------------------------------
# ONNX initializer <-> HF parameter mapping
# --------------------------------------------------------------------------------------------

def hf_parameter_groups(model):
    """[(canonical_name, [all names], tensor)] for unique trainable parameters (tied names grouped)."""
    groups: dict[int, list[str]] = collections.OrderedDict()
    tensors = {}
    for name, p in model.named_parameters(remove_duplicate=False):
        if not p.requires_grad:
            continue
        key = id(p)
        groups.setdefault(key, []).append(name)
        tensors[key] = p
    return [(names[0], names, tensors[k]) for k, names in groups.items()]


def build_parameter_map(proto: onnx.ModelProto, model):
    """Match float initializers to HF parameters by exact value (also trying the transpose).

    Returns (parameters, tied): parameters = {onnx_name: {"name": hf_name, "transpose": bool}};
    tied = [[hf names sharing one tensor], ...].  Raises if an HF parameter has no initializer,
    appears as more than one, or an initializer matches several parameters indistinguishably.
    """
    from onnx import numpy_helper

    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                   onnx.TensorProto.BFLOAT16}
    groups = hf_parameter_groups(model)
    by_shape = collections.defaultdict(list)
    arrays = {}
    for canon, names, t in groups:
        a = t.detach().cpu().float().numpy()
        arrays[canon] = a
        by_shape[tuple(a.shape)].append((canon, names))

    def norm(s: str) -> str:
        return s.replace("/", ".").replace("::", ".").lstrip("_.")

    parameters = collections.OrderedDict()
    hits = collections.defaultdict(list)
    for init in proto.graph.initializer:
        if init.data_type not in float_types:
            continue
        if init.data_location == onnx.TensorProto.EXTERNAL:
            raise SystemExit("build_parameter_map needs a model with weights loaded in memory")
        w = numpy_helper.to_array(init)
        if w.dtype != np.float32:
            w = w.astype(np.float32)
        cands = []
        for canon, names in by_shape.get(tuple(w.shape), []):
            if np.array_equal(w, arrays[canon]):
                cands.append((canon, names, False))
        if w.ndim == 2:
            for canon, names in by_shape.get(tuple(w.shape[::-1]), []):
                if np.array_equal(w, arrays[canon].T):
                    cands.append((canon, names, True))
        if not cands:
            continue
        if len(cands) > 1:  # several HF parameters with identical values: use the names
            named = [c for c in cands if norm(init.name) in {norm(n) for n in c[1]}]
            if len(named) == 1:
                cands = named
            else:
                raise SystemExit(
                    f"initializer {init.name!r} matches several HF parameters by value: "
                    f"{[c[0] for c in cands]} and its name does not disambiguate")
        canon, _names, tr = cands[0]
        parameters[init.name] = {"name": canon, "transpose": tr}
        hits[canon].append(init.name)

    errors = []
    for canon, names, _ in groups:
        if not hits.get(canon):
            errors.append(f"HF parameter {canon} has no ONNX initializer (constant-folded?)")
        elif len(hits[canon]) > 1:
            errors.append(f"HF parameter {canon} appears as {len(hits[canon])} initializers: {hits[canon]}")
    if errors:
        raise SystemExit("parameter mapping failed:\n  " + "\n  ".join(errors))
    tied = [names for _, names, _ in groups if len(names) > 1]
    return dict(parameters), tied


# --------------------------------------------------------------------------------------------
# verification
# --------------------------------------------------------------------------------------------

def _inference_copy(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Copy whose Dropout nodes run in inference mode (training_mode input removed)."""
    p = copy.deepcopy(proto)
    for node in p.graph.node:
        if node.op_type == "Dropout":
            del node.input[1:]
    return p


def ort_logits(proto_or_path, input_ids, attention_mask) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.intra_op_num_threads = 1
    src = proto_or_path if isinstance(proto_or_path, str) else proto_or_path.SerializeToString()
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    return sess.run(["logits"], {"input_ids": np.asarray(input_ids, dtype=np.int64),
                                 "attention_mask": np.asarray(attention_mask, dtype=np.int64)})[0]


@torch.no_grad()
def verify(proto: onnx.ModelProto, model, vocab_size: int, pad_id: int, mode: str) -> float:
    """Max |ORT - torch| over two padded batches of different shapes (checks dynamic axes)."""
    if mode == "train":
        proto = _inference_copy(proto)
    model.eval()
    worst = 0.0
    for (b, s, seed) in ((3, 8, 0), (2, 13, 1)):
        ids, am = sample_batch(vocab_size, pad_id, b, s, seed)
        ref = model(input_ids=ids, attention_mask=am).logits.float().numpy()
        got = ort_logits(proto, ids.numpy(), am.numpy())
        if got.shape != ref.shape:
            raise SystemExit(f"ORT logits shape {got.shape} != torch {ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max()))
    return worst


# --------------------------------------------------------------------------------------------
# sidecar
# --------------------------------------------------------------------------------------------

def sidecar_path(onnx_path: str) -> str:
    d, base = os.path.split(onnx_path)
    stem = base[:-5] if base.endswith(".onnx") else base
    return os.path.join(d, "distill.json" if stem == "model" else stem + ".distill.json")


def op_histogram(proto: onnx.ModelProto) -> dict:
    c = collections.Counter()
    for g in _graphs(proto.graph):
        for n in g.node:
            c[(n.domain + "::" if n.domain not in ("", "ai.onnx") else "") + n.op_type] += 1
    for f in proto.functions:
        for n in f.node:
            c[f"(fn {f.name}) " + n.op_type] += 1
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def differentiable_ops(proto: onnx.ModelProto, param_inits) -> dict:
    """Histogram of op types on differentiable paths: nodes with a float input that depends on a
    parameter initializer and a float output that (transitively) feeds a graph output.  Types come
    from onnx shape inference; integer/bool values (shapes, masks, indices) stop the propagation.
    Top-level graph only."""
    from onnx import shape_inference

    float_types = {onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                   onnx.TensorProto.BFLOAT16}
    inferred = shape_inference.infer_shapes(proto)
    etype = {}
    for v in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        etype[v.name] = v.type.tensor_type.elem_type
    for t in inferred.graph.initializer:
        etype[t.name] = t.data_type

    def is_float(name):
        return etype.get(name) in float_types

    dep = {p for p in param_inits}
    for n in proto.graph.node:  # topologically sorted
        if any(i in dep for i in n.input if i):
            dep.update(o for o in n.output if o and is_float(o))
    live = {o.name for o in proto.graph.output}
    for n in reversed(proto.graph.node):
        if any(o in live for o in n.output):
            live.update(i for i in n.input if i and is_float(i))
    c = collections.Counter()
    for n in proto.graph.node:
        if any(i in dep for i in n.input if i) and any(o in live and o in dep for o in n.output):
            c[n.op_type] += 1
    return dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0])))


def make_sidecar(proto, model, task, exporter, mode, parameters, tied, attn_implementation,
                 max_abs_diff):
    cfg = model.config
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    vocab_size = int(cfg.vocab_size)
    pad = getattr(cfg, "pad_token_id", None)
    side = collections.OrderedDict()
    side["format"] = SIDECAR_FORMAT
    side["task"] = task
    side["architecture"] = type(model).__name__
    side["model_type"] = cfg.model_type
    side["exporter"] = exporter
    side["mode"] = mode
    side["opset"] = opset
    side["ir_version"] = proto.ir_version
    side["inputs"] = [i.name for i in proto.graph.input]
    side["outputs"] = [o.name for o in proto.graph.output]
    side["logits"] = "logits"
    if task == "causal-lm":
        side["num_labels"] = None
        side["id2label"] = None
    else:
        side["num_labels"] = int(cfg.num_labels)
        side["id2label"] = {str(k): v for k, v in sorted(cfg.id2label.items(), key=lambda kv: int(kv[0]))}
    side["vocab_size"] = vocab_size
    side["pad_token_id"] = pad if pad is None else int(pad)
    side["max_position_embeddings"] = _max_positions(cfg)
    side["attn_implementation"] = attn_implementation
    side["dropout_nodes"] = sum(1 for n in proto.graph.node if n.op_type == "Dropout")
    side["verify_max_abs_diff"] = float(f"{max_abs_diff:.3e}")
    side["producer"] = {"torch": torch.__version__.split("+")[0],
                        "transformers": _version("transformers"), "onnx": onnx.__version__}
    side["parameters"] = parameters
    side["tied"] = tied
    return side


def _version(mod):
    try:
        return __import__(mod).__version__
    except Exception:  # pragma: no cover
        return None


# --------------------------------------------------------------------------------------------
# main entry
# --------------------------------------------------------------------------------------------

def export(model, task: str, out: str, exporter: str = "torchscript", mode: str = "eval",
           opset: int | None = None, tokenizer: str | None = None, ir_version: int = DEFAULT_IR_VERSION,
           attn_implementation: str = "eager", quiet: bool = False) -> dict:
    """Export `model` (an HF model instance) and write OUT.onnx, its sidecar and the tokenizer."""
    if task not in TASKS:
        raise SystemExit(f"unknown task {task}")
    if exporter not in EXPORTERS:
        raise SystemExit(f"unknown exporter {exporter}")
    if ir_version > MAX_IR_VERSION:
        raise SystemExit(f"IR version {ir_version} > {MAX_IR_VERSION}")
    opset = opset or DEFAULT_OPSET[exporter]
    pad = getattr(model.config, "pad_token_id", None)
    pad = 0 if pad is None else int(pad)
    vocab_size = int(model.config.vocab_size)
    sample = sample_batch(vocab_size, pad, 3, 8, 0)

    torch.manual_seed(0)
    if exporter == "torchscript":
        proto = export_torchscript(model, sample, opset, mode)
    else:
        proto = export_dynamo(model, sample, opset, mode)
    model.eval()

    if mode == "train" and not any(n.op_type == "Dropout" for n in proto.graph.node):
        raise SystemExit("train mode export has no Dropout nodes (config dropout probabilities 0?)")
    if mode == "eval" and any(n.op_type == "Dropout" for n in proto.graph.node):
        raise SystemExit("eval mode export unexpectedly contains Dropout nodes")

    proto.ir_version = ir_version
    proto.producer_name = proto.producer_name or "onnx-distill"
    onnx.checker.check_model(proto, full_check=False)

    parameters, tied = build_parameter_map(proto, model)
    diff = verify(proto, model, vocab_size, pad, mode)
    if not quiet:
        print(f"[export_hf] {out}: exporter={exporter} mode={mode} opset={opset} "
              f"ir={proto.ir_version} initializers={len(proto.graph.initializer)} "
              f"params={len(parameters)} ORT-vs-PyTorch max|diff|={diff:.3e}")
    if not diff < TOLERANCE:
        raise SystemExit(f"onnxruntime output differs from PyTorch by {diff} (>= {TOLERANCE})")

    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    onnx.save_model(proto, out)
    side = make_sidecar(proto, model, task, exporter, mode, parameters, tied, attn_implementation, diff)
    with open(sidecar_path(out), "w", encoding="utf-8") as f:
        json.dump(side, f, indent=2)
        f.write("\n")
    if tokenizer:
        dst = os.path.join(os.path.dirname(os.path.abspath(out)), "tokenizer.json")
        if os.path.abspath(tokenizer) != dst:
            shutil.copyfile(tokenizer, dst)
    side["_op_histogram"] = op_histogram(proto)
    side["_differentiable_ops"] = differentiable_ops(proto, parameters)
    return side


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="HF model folder or config.json")
    ap.add_argument("--task", required=True, choices=TASKS)
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--exporter", default="torchscript", choices=EXPORTERS)
    ap.add_argument("--mode", default="eval", choices=MODES,
                    help="train keeps Dropout nodes (both exporters)")
    ap.add_argument("--opset", type=int, default=None,
                    help="ONNX opset (default 17 for torchscript, 18 for dynamo)")
    ap.add_argument("--ir-version", type=int, default=DEFAULT_IR_VERSION,
                    help=f"ONNX IR version written (default {DEFAULT_IR_VERSION}, max {MAX_IR_VERSION})")
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json to copy next to the model")
    ap.add_argument("--attn-implementation", default="eager", choices=("eager", "sdpa"),
                    help="HF attention implementation traced (default eager: plain MatMul/Softmax)")
    ap.add_argument("--seed", type=int, default=0, help="seed for random init from a config.json")
    ap.add_argument("--no-perturb", action="store_true",
                    help="with a config.json: keep HF's init (zero biases, unit LayerNorm) instead "
                         "of adding seeded N(0, 0.02^2) noise to every parameter")
    args = ap.parse_args(argv)
    model = load_model(args.model, args.task, args.attn_implementation, args.seed, not args.no_perturb)
    side = export(model, args.task, args.out, args.exporter, args.mode, args.opset, args.tokenizer,
                  args.ir_version, args.attn_implementation)
    print("ops:", json.dumps(side["_op_histogram"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
