#!/usr/bin/env python3
"""User-style fixtures: tiny HF models saved and exported the way users make ONNX files.

  python scripts/make_user_exports.py [FAMILY ...]      (default: all; writes models/user/)

The other fixtures are exported by export_hf.py with perturbed weights and a patched exporter so
that every HF parameter is exactly one ONNX initializer.  Files users bring are not like that: a
fresh `from_config` model has biases of exactly 0 and LayerNorm weights of exactly 1, and the
stock exporters merge equal initializers, fold transposes and drop zero biases.  Per family this
script writes models/user/<family>/:

  config.json, model.safetensors     save_pretrained of a seeded random-init model (no perturbation;
                                      gpt2 also generation_config.json)
  tokenizer.json, tokenizer_config.json   save_pretrained of a PreTrainedTokenizerFast on
                                      models/tokenizer.json
  torchscript.onnx                   torch.onnx.export(dynamo=False), exporter defaults
  dynamo.onnx (+ dynamo.onnx.data)   torch.onnx.export(dynamo=True), exporter defaults
                                      (optimize=True, external data, node metadata kept)
  lossless.onnx + lossless.distill.json   scripts/export_hf.py on the saved folder
  train.jsonl                        12 pre-tokenized rows (3 batches of 4 in file order)
  reference.safetensors              PyTorch distillation references: 3 SGD and 3 AdamW steps

See docs/FIXTURES.md, section "User-style exports (models/user/)".
"""
from __future__ import annotations

import collections
import contextlib
import io
import json
import os
import subprocess
import sys
import warnings

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import transformers as T
from onnx import numpy_helper
from safetensors import safe_open
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import export_hf  # noqa: E402

OUT_ROOT = os.path.join(ROOT, "models", "user")
TOKENIZER = os.path.join(ROOT, "models", "tokenizer.json")
LABELS = {"id2label": {0: "ham", 1: "spam"}, "label2id": {"ham": 0, "spam": 1}}  # as bert-teacher
PAD = 0  # [PAD] of models/tokenizer.json
TOKEN_LOW = 5  # ids 0-4 are the special tokens: data uses [5, 2000)
SEED = 4200  # model of family i: torch.manual_seed(SEED + i); data generators: SEED + 100 + ...
ALPHA, TEMPERATURE = 0.5, 2.0
STEPS, BATCH = 3, 4
TRAIN_LENGTHS = [12, 7, 9, 5, 8, 10, 6, 10, 11, 5, 12, 7]  # 3 batches, padded to 12, 10, 12
EVAL_LENGTHS = [10, 7, 4]
OPTIMIZERS = {
    "sgd": {"name": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.0, "nesterov": False,
            "weight_decay": 0.0, "max_norm": None},
    "adamw": {"name": "adamw", "lr": 1e-2, "betas": [0.9, 0.999], "eps": 1e-8, "amsgrad": False,
              "weight_decay": 0.01, "weight_decay_groups": "HF Trainer: none for no_decay names",
              # 0.2: under the gradient norms of most steps (0.1-1.2), so clipping acts and is tested
              "max_norm": 0.2, "lr_schedule": "constant"},
}
TOL = 1e-4

# tiny shapes shared by all families: hidden 32, 2 layers, 2 heads, ffn 64, 64 positions
COMMON = dict(vocab_size=2000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
              intermediate_size=64, max_position_embeddings=64, pad_token_id=PAD)
FAMILIES = {  # name -> (task, config, teacher folder)
    "bert": ("seq-cls", lambda: T.BertConfig(**COMMON, **LABELS), "bert-teacher"),
    "distilbert": ("seq-cls", lambda: T.DistilBertConfig(
        vocab_size=2000, dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64,
        pad_token_id=PAD, **LABELS), "bert-teacher"),
    # RoBERTa numbers positions from padding_idx + 1 (= 1 here), so 64 tokens need 66 rows
    "roberta": ("seq-cls", lambda: T.RobertaConfig(
        **{**COMMON, "max_position_embeddings": 66}, bos_token_id=2, eos_token_id=3, **LABELS),
        "bert-teacher"),
    # embedding_size 16 != hidden 32 adds the embedding projection; ALBERT shares one layer
    "albert": ("seq-cls", lambda: T.AlbertConfig(**COMMON, embedding_size=16, bos_token_id=2,
                                                 eos_token_id=3, **LABELS), "bert-teacher"),
    "electra": ("seq-cls", lambda: T.ElectraConfig(**COMMON, embedding_size=16, **LABELS),
                "bert-teacher"),
    # ids of the tokenizer's [PAD]/[CLS]/[SEP] like models/gpt2-teacher; tied wte/lm_head
    "gpt2": ("causal-lm", lambda: T.GPT2Config(
        vocab_size=2000, n_embd=32, n_layer=2, n_head=2, n_inner=64, n_positions=64,
        pad_token_id=PAD, bos_token_id=2, eos_token_id=3, use_cache=False), "gpt2-teacher"),
}
AUTO = {"seq-cls": T.AutoModelForSequenceClassification, "causal-lm": T.AutoModelForCausalLM}


def rel(p: str) -> str:
    return os.path.relpath(p, ROOT)


# ------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------

def padded(rows, pad=PAD):
    """Right-pad token lists to the longest row: (input_ids, attention_mask), int64.  This is the
    TypeScript trainer's collate (pad with config.pad_token_id, mask 1 on tokens, 0 on pads)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.int64)
    am = torch.zeros((len(rows), width), dtype=torch.int64)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.int64)
        am[i, :len(r)] = 1
    return ids, am


def random_rows(lengths, seed):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(TOKEN_LOW, 2000, (n,), generator=g).tolist() for n in lengths]


def train_rows(task):
    """The 12 rows of train.jsonl; the same ids for every family, labels 0/1 for seq-cls."""
    rows = [{"input_ids": r} for r in random_rows(TRAIN_LENGTHS, SEED + 100)]
    if task == "seq-cls":
        g = torch.Generator().manual_seed(SEED + 101)
        for row, lab in zip(rows, torch.randint(0, 2, (len(rows),), generator=g).tolist()):
            row["label"] = lab
    return rows


def collate(rows, task):
    ids, am = padded([r["input_ids"] for r in rows])
    labels = (torch.tensor([r["label"] for r in rows], dtype=torch.int64) if task == "seq-cls"
              else ids.clone())  # causal-lm: the loss shifts input_ids itself
    return ids, am, labels


# ------------------------------------------------------------------------------------------
# models and exports
# ------------------------------------------------------------------------------------------

def make_model(family, index):
    task, make_cfg, _ = FAMILIES[family]
    torch.manual_seed(SEED + index)
    model = AUTO[task].from_config(make_cfg()).float().eval()
    # the point of these fixtures: untouched HF init (zero biases, unit LayerNorm weights)
    for n, p in model.named_parameters():
        if n.endswith("bias"):
            assert not p.detach().any(), f"{family}: {n} is not zero"
        if "norm" in n.lower() and n.endswith("weight"):
            assert bool((p.detach() == 1).all()), f"{family}: {n} is not one"
    return model


def save_folder(model, family, folder):
    model.save_pretrained(folder)
    tok = T.PreTrainedTokenizerFast(
        tokenizer_file=TOKENIZER, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
        sep_token="[SEP]", mask_token="[MASK]", model_max_length=64,
        **({"bos_token": "[CLS]", "eos_token": "[SEP]"} if family == "gpt2" else {}))
    tok.save_pretrained(folder)


@contextlib.contextmanager
def quiet():
    """The exporters print progress and deprecation warnings; keep the log readable."""
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


def export_torchscript(model, task, path, sample):
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
           "logits": {0: "batch", 1: "sequence"} if task == "causal-lm" else {0: "batch"}}
    # GPT2LMHeadModel.forward(input_ids, past_key_values, ..., attention_mask, ...): positional
    # (ids, mask) would be read as a cache, and kwargs make the TorchScript exporter turn the
    # int default `logits_to_keep` into a third graph input.  Override forward on the instance
    # (parameter names unchanged), as export_hf.logits_only does; the other models take
    # (input_ids, attention_mask) positionally and are exported as they are.
    ctx = export_hf.logits_only(model) if task == "causal-lm" else contextlib.nullcontext(model)
    with quiet(), ctx as m:
        torch.onnx.export(m, sample, path, dynamo=False, input_names=["input_ids", "attention_mask"],
                          output_names=["logits"], dynamic_axes=dyn)


def export_dynamo(model, task, path, sample):
    dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    # torch.export takes keyword arguments, so GPT-2 gets the mask by name (no override needed)
    args, kwargs = (sample, None) if task == "seq-cls" else ((sample[0],), {"attention_mask": sample[1]})
    with quiet():
        torch.onnx.export(model, args, path, kwargs=kwargs, dynamo=True,
                          input_names=["input_ids", "attention_mask"], output_names=["logits"],
                          dynamic_shapes=dyn)
    # The exporter's per-node Python stack traces are ~85 % of the file and hold this machine's absolute
    # paths; nothing reads them. Its module scopes (pkg.torch.onnx.name_scopes) stay, as users' files have them.
    m = onnx.load(path)
    for n in m.graph.node:
        keep = [p for p in n.metadata_props if p.key != "pkg.torch.onnx.stack_trace"]
        del n.metadata_props[:]
        n.metadata_props.extend(keep)
    os.remove(path + ".data")  # onnx.save appends to an existing data file
    onnx.save(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data")


def export_lossless(folder, task):
    # export_hf.py loads a folder with from_pretrained (no perturbation: that applies only to a
    # config.json), and copies a tokenizer only with --tokenizer, which is not passed.
    out = os.path.join(folder, "lossless.onnx")
    cmd = [sys.executable, os.path.join(HERE, "export_hf.py"), "--model", folder, "--task", task,
           "--out", out]
    res = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if res.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout}\n{res.stderr}")
    print("    " + next(l for l in res.stdout.splitlines() if l.startswith("[export_hf]")))


def ort_check(path, model, batches):
    """Max |onnxruntime - PyTorch| logits over padded batches of different shapes."""
    worst = 0.0
    with torch.no_grad():
        for ids, am in batches:
            ref = model(input_ids=ids, attention_mask=am).logits.numpy()
            got = export_hf.ort_logits(path, ids.numpy(), am.numpy())
            assert got.shape == ref.shape, (path, got.shape, ref.shape)
            worst = max(worst, float(np.abs(got - ref).max()))
    assert worst < TOL, f"{path}: onnxruntime differs from PyTorch by {worst}"
    return worst


def describe(path, model):
    """How the HF parameters ended up in an ONNX file.  Matching is by exact value (as is, or
    transposed for 2-D); parameters with equal values (all the zero biases of one size, ...) form
    one value class, and `merged_params` counts parameters that have no initializer of their own
    (their class has fewer initializers than parameters)."""
    proto = onnx.load(path)  # loads external data too
    params = collections.OrderedDict((n, p.detach().numpy()) for n, p in model.named_parameters())
    classes = collections.OrderedDict()  # (shape, bytes) -> [names]
    for n, a in params.items():
        classes.setdefault((a.shape, a.tobytes()), []).append(n)
    floats = [i for i in proto.graph.initializer if i.data_type == onnx.TensorProto.FLOAT]
    covered = collections.Counter()  # class -> initializers carrying it
    as_is = transposed = scalars = 0
    for init in floats:
        a = numpy_helper.to_array(init)
        if a.size == 1:
            scalars += 1  # folded constants (attention scale, mask fill, gelu_new coefficients)
            continue
        if (a.shape, a.tobytes()) in classes:
            covered[(a.shape, a.tobytes())] += 1
            as_is += 1
        elif a.ndim == 2 and (a.T.shape, np.ascontiguousarray(a.T).tobytes()) in classes:
            covered[(a.T.shape, np.ascontiguousarray(a.T).tobytes())] += 1
            transposed += 1  # a pre-transposed copy (the Transpose node was folded)
    missing = [n for k, names in classes.items() if not covered[k] for n in names]
    merged = sum(max(0, len(names) - covered[k]) for k, names in classes.items() if covered[k])
    init_names = {i.name for i in proto.graph.initializer}
    outputs = {o for n in proto.graph.node for o in n.output}
    nodes = collections.Counter(n.op_type for n in proto.graph.node)
    return {"initializers": len(proto.graph.initializer), "float_initializers": len(floats),
            "hf_params": len(params), "value_classes": len(classes),
            "inits_as_is": as_is, "inits_transposed": transposed, "merged_params": merged,
            "params_without_initializer": missing, "identity_nodes": nodes["Identity"],
            "scalar_float_initializers": scalars,
            "hf_names_as_initializers": sum(n in init_names for n in params),
            "hf_names_as_node_outputs": sum(n in outputs for n in params),
            "nodes": sum(nodes.values()),
            "opset": next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")),
            "ir_version": proto.ir_version,
            "external_data": any(i.data_location == onnx.TensorProto.EXTERNAL
                                 for i in onnx.load(path, load_external_data=False).graph.initializer),
            "ops": dict(sorted(nodes.items(), key=lambda kv: (-kv[1], kv[0])))}


# ------------------------------------------------------------------------------------------
# references
# ------------------------------------------------------------------------------------------

def distill_loss(task, s, t, labels, am):
    """alpha * CE + (1 - alpha) * T^2 * KL(batchmean), the seed loss of reference_steps.py.
    causal-lm: logits[:, :-1] predict input_ids[:, 1:]; targets whose attention_mask[:, 1:] is 0
    are -100, and CE (mean) and KD (batchmean) both run over the counted positions only."""
    kl = nn.KLDivLoss(reduction="batchmean")
    if task == "causal-lm":
        v = s.shape[-1]
        targets = labels[:, 1:].clone()
        targets[am[:, 1:] == 0] = -100
        keep = (targets != -100).reshape(-1)
        s = s[:, :-1].reshape(-1, v)[keep]
        t = t[:, :-1].reshape(-1, v)[keep]
        labels = targets.reshape(-1)[keep]
    ce = F.cross_entropy(s, labels, ignore_index=-100)
    kd = TEMPERATURE ** 2 * kl(F.log_softmax(s / TEMPERATURE, dim=-1),
                               F.softmax(t / TEMPERATURE, dim=-1))
    return ALPHA * ce + (1 - ALPHA) * kd


def make_optimizer(opt, model, no_decay):
    named = list(model.named_parameters())  # unique tensors: a tied weight once
    if opt["name"] == "sgd":
        return torch.optim.SGD([p for _, p in named], lr=opt["lr"], momentum=opt["momentum"],
                               dampening=opt["dampening"], nesterov=opt["nesterov"],
                               weight_decay=0.0, foreach=False)
    # HF Trainer.create_optimizer: decayed group first, then the no-decay group
    groups = [{"params": [p for n, p in named if n not in no_decay], "weight_decay": opt["weight_decay"]},
              {"params": [p for n, p in named if n in no_decay], "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=opt["lr"], betas=tuple(opt["betas"]), eps=opt["eps"],
                             amsgrad=False, foreach=False)


def reference(family, index, folder, rows, eval_batch, exports=("torchscript", "dynamo", "lossless")):
    task, _, teacher_name = FAMILIES[family]
    teacher_onnx = os.path.join(ROOT, "models", teacher_name, "model.onnx")
    # The teacher is rebuilt in PyTorch from its ONNX file (export_hf.load_hf_from_onnx checks it
    # against onnxruntime to < 1e-5); its logits are computed once per batch, no_grad.
    teacher = export_hf.load_hf_from_onnx(teacher_onnx)
    batches = [collate(rows[i:i + BATCH], task) for i in range(0, STEPS * BATCH, BATCH)]
    with torch.no_grad():
        t_logits = [teacher(input_ids=ids, attention_mask=am).logits for ids, am, _ in batches]
    ort_diff = max(float(np.abs(export_hf.ort_logits(teacher_onnx, ids.numpy(), am.numpy())
                                - tl.numpy()).max()) for (ids, am, _), tl in zip(batches, t_logits))
    assert ort_diff < TOL, ort_diff

    def load_student():
        # as a user's training script would: from the saved folder.  Eager attention (the plain
        # MatMul/Softmax of lossless.onnx); the exports use the default attention (sdpa).
        m = AUTO[task].from_pretrained(folder, attn_implementation="eager", dtype=torch.float32)
        m.eval()  # no dropout
        for p in m.parameters():
            p.requires_grad_(True)
        return m

    eid, eam = eval_batch
    tensors = {"eval/input_ids": eid, "eval/attention_mask": eam}
    student = load_student()
    # the exact set HF's Trainer keeps out of weight decay (get_decay_parameter_names ignores self)
    decay = set(T.Trainer.get_decay_parameter_names(None, student))
    no_decay = sorted(n for n, _ in student.named_parameters() if n not in decay)
    with torch.no_grad():
        tensors["initial/logits"] = student(input_ids=eid, attention_mask=eam).logits.float()
    # every export must reproduce the reference's initial logits (eager vs the exported sdpa)
    ort_initial = {}
    for name in exports:
        got = export_hf.ort_logits(os.path.join(folder, f"{name}.onnx"), eid.numpy(), eam.numpy())
        ort_initial[name] = float(np.abs(got - tensors["initial/logits"].numpy()).max())
        assert ort_initial[name] < TOL, (name, ort_initial[name])
    meta_opt, per_step = {}, {}
    for opt_name, opt in OPTIMIZERS.items():
        student = load_student()
        optimizer = make_optimizer(opt, student, set(no_decay))
        params = [p for _, p in student.named_parameters()]
        losses, norms = [], []
        for (ids, am, labels), tl in zip(batches, t_logits):
            optimizer.zero_grad(set_to_none=True)
            loss = distill_loss(task, student(input_ids=ids, attention_mask=am).logits, tl, labels, am)
            loss.backward()
            norm = torch.nn.utils.get_total_norm([p.grad for p in params])
            if opt["max_norm"] is not None:
                torch.nn.utils.clip_grad_norm_(params, max_norm=opt["max_norm"])
            optimizer.step()
            losses.append(loss.detach().float())
            norms.append(float(np.float32(norm.item())))
        with torch.no_grad():
            tensors[f"{opt_name}/logits"] = student(input_ids=eid, attention_mask=eam).logits.float()
        tensors[f"{opt_name}/loss"] = torch.stack(losses)
        for n, p in student.named_parameters():  # tied: once, under the name save_pretrained keeps
            tensors[f"{opt_name}/param/{n}"] = p.detach().float().clone()
        meta_opt[opt_name] = opt
        per_step[opt_name] = {"loss": [float(x) for x in losses], "grad_norm_before_clip": norms}
        print(f"    {opt_name}: loss {[round(float(x), 6) for x in losses]} grad_norm "
              f"{[round(x, 4) for x in norms]}")
    with safe_open(os.path.join(folder, "model.safetensors"), "pt") as f:
        saved = set(f.keys())
    stored = {k.split("/param/", 1)[1] for k in tensors if "/param/" in k}
    assert stored <= saved, f"{family}: parameter names not in model.safetensors: {stored - saved}"
    meta = {
        "format": 1, "family": family, "task": task,
        "model": rel(folder), "train_file": rel(os.path.join(folder, "train.jsonl")),
        "teacher": rel(teacher_onnx),
        "teacher_logits": "PyTorch model rebuilt by export_hf.load_hf_from_onnx "
                          f"(onnxruntime agrees to {ort_diff:.1e})",
        "alpha": ALPHA, "T": TEMPERATURE, "steps": STEPS, "batch_size": BATCH, "pad_token_id": PAD,
        "collate": "batches of 4 consecutive rows in file order, right-padded with pad_token_id to "
                   "the longest row; attention_mask 1 on tokens, 0 on padding",
        "loss": "alpha*CE(ignore_index=-100, mean) + (1-alpha)*T^2*KLDiv(batchmean); causal-lm: "
                "logits[:, :-1] vs input_ids[:, 1:], -100 where attention_mask[:, 1:] == 0, CE and "
                "KD over the counted positions only",
        "student": "from_pretrained(folder), attn_implementation eager, eval() (no dropout), "
                   "float32, 1 thread, every parameter trainable",
        "optimizers": meta_opt, "no_decay": no_decay, "per_step": per_step,
        "ort_vs_initial_logits": {k: float(f"{v:.2e}") for k, v in ort_initial.items()},
    }
    out = os.path.join(folder, "reference.safetensors")
    # a single metadata key: safetensors writes its metadata map in hash order
    save_file({k: v.contiguous() for k, v in sorted(tensors.items())}, out,
              metadata={"onnx_distill": json.dumps(meta, sort_keys=True)})


# ------------------------------------------------------------------------------------------

def run_family(family, index):
    task = FAMILIES[family][0]
    folder = os.path.join(OUT_ROOT, family)
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):  # start clean: stale files would survive otherwise
        os.remove(os.path.join(folder, f))
    print(f"[{family}] {task}")
    model = make_model(family, index)
    save_folder(model, family, folder)
    # exports and checks use the model as a user has it: reloaded, default attention
    model = AUTO[task].from_pretrained(folder, dtype=torch.float32).eval()
    eval_batch = padded(random_rows(EVAL_LENGTHS, SEED + 200))
    other = padded(random_rows([13, 9], SEED + 201))  # a second shape for the dynamic axes
    rows = train_rows(task)
    with open(os.path.join(folder, "train.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)

    stats = {}
    for name, fn in (("torchscript", export_torchscript), ("dynamo", export_dynamo)):
        path = os.path.join(folder, f"{name}.onnx")
        torch.manual_seed(0)
        fn(model, task, path, eval_batch)
        diff = ort_check(path, model, [eval_batch, other])
        stats[name] = {"ort_max_abs_diff": diff, **describe(path, model)}
    export_lossless(folder, task)
    path = os.path.join(folder, "lossless.onnx")
    stats["lossless"] = {"ort_max_abs_diff": ort_check(path, model, [eval_batch, other]),
                         **describe(path, model)}
    for name, s in stats.items():
        print(f"    {name:11s} " + " ".join(f"{k}={v:.1e}" if isinstance(v, float) else f"{k}={v}"
                                            for k, v in s.items() if k != "ops"))
        print(f"    {'':11s} ops {json.dumps(s['ops'])}")
    reference(family, index, folder, rows, eval_batch)
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"    {rel(folder)}: {size:,} bytes")
    return stats


def main(argv, families=None, run=None):
    """Makes the named families (default all) of `families` with `run(name, index)` (default: this
    script's table and run_family; make_family_fixtures.py passes its own)."""
    families = families or FAMILIES
    run = run or run_family
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    T.logging.set_verbosity_error()
    T.logging.disable_progress_bar()
    names = argv or list(families)
    for n in names:
        if n not in families:
            raise SystemExit(f"unknown family {n!r} (one of {', '.join(families)})")
    for n in names:
        run(n, list(families).index(n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
