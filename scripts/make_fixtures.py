#!/usr/bin/env python3
"""Regenerate every committed test fixture under models/ (deterministically).

  python scripts/make_fixtures.py [--only NAME ...] [--skip-refs] [--retrain-tokenizer]

Steps
  1. models/tokenizer.json      (scripts/train_tokenizer.py, only if missing or --retrain-tokenizer)
  2. models/<fixture>/          random-init HF model (fixed seed) + seeded N(0, 0.02^2) perturbation,
                                config.json (from save_pretrained; the HF weights are not kept: the
                                ONNX initializers + sidecar map hold them, see
                                export_hf.load_hf_from_onnx), tokenizer.json,
                                model.onnx + distill.json (torchscript, eval, opset 17);
                                students also model.dynamo.onnx + model.dynamo.distill.json;
                                bert-student also model.train.onnx + model.train.distill.json
  3. models/external/           bert-student's model.onnx re-saved with all initializers in
                                model.onnx_data (+ bert-student's sidecar and tokenizer)
  4. models/io/                 kitchen-sink.onnx + kitchen-sink.expected.json (scripts/kitchen_sink.py)
  5. models/*/X.ref.safetensors PyTorch reference logits/loss/gradients (scripts/reference_grads.py)
  6. models/manifest.json       sizes, sha256, op histograms of every file
"""
from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import shutil
import sys
import tempfile

import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import export_hf  # noqa: E402
import kitchen_sink  # noqa: E402
import train_tokenizer  # noqa: E402

REPO = os.path.dirname(HERE)
MODELS = os.path.join(REPO, "models")
TOKENIZER = os.path.join(MODELS, "tokenizer.json")

ID2LABEL_SPAM = {0: "ham", 1: "spam"}
ID2LABEL_NER = {0: "O", 1: "B-ENT", 2: "I-ENT"}
MAX_POS = 128
PAD_ID = 0
CLS_ID, SEP_ID = 2, 3  # [CLS], [SEP] in models/tokenizer.json; used as GPT-2 bos/eos


def bert_config(vocab, layers, hidden, heads, inter, id2label):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
        intermediate_size=inter, hidden_act="gelu", max_position_embeddings=MAX_POS,
        hidden_dropout_prob=0.1, attention_probs_dropout_prob=0.1, type_vocab_size=2,
        pad_token_id=PAD_ID, num_labels=len(id2label), id2label=dict(id2label),
        label2id={v: k for k, v in id2label.items()},
    )


def distilbert_config(vocab, layers, dim, heads, hidden_dim):
    from transformers import DistilBertConfig

    return DistilBertConfig(
        vocab_size=vocab, dim=dim, n_layers=layers, n_heads=heads, hidden_dim=hidden_dim,
        activation="gelu", max_position_embeddings=MAX_POS, dropout=0.1, attention_dropout=0.1,
        pad_token_id=PAD_ID, num_labels=2, id2label=dict(ID2LABEL_SPAM),
        label2id={v: k for k, v in ID2LABEL_SPAM.items()},
    )


def gpt2_config(vocab, layers, dim, heads):
    from transformers import GPT2Config

    return GPT2Config(
        vocab_size=vocab, n_positions=MAX_POS, n_embd=dim, n_layer=layers, n_head=heads,
        activation_function="gelu_new", resid_pdrop=0.1, embd_pdrop=0.1, attn_pdrop=0.1,
        use_cache=False, tie_word_embeddings=True, pad_token_id=PAD_ID, bos_token_id=CLS_ID,
        eos_token_id=SEP_ID,
    )


# name: (task, model class name, config factory(vocab), seed, student?)
FIXTURES = collections.OrderedDict([
    ("bert-teacher", ("seq-cls", "BertForSequenceClassification",
                      lambda v: bert_config(v, 2, 64, 4, 128, ID2LABEL_SPAM), 1001, False)),
    ("bert-student", ("seq-cls", "BertForSequenceClassification",
                      lambda v: bert_config(v, 1, 32, 2, 64, ID2LABEL_SPAM), 1002, True)),
    ("distilbert-teacher", ("seq-cls", "DistilBertForSequenceClassification",
                            lambda v: distilbert_config(v, 2, 64, 4, 128), 2001, False)),
    ("distilbert-student", ("seq-cls", "DistilBertForSequenceClassification",
                            lambda v: distilbert_config(v, 1, 32, 2, 64), 2002, True)),
    ("gpt2-teacher", ("causal-lm", "GPT2LMHeadModel", lambda v: gpt2_config(v, 2, 64, 4), 3001, False)),
    ("gpt2-student", ("causal-lm", "GPT2LMHeadModel", lambda v: gpt2_config(v, 1, 32, 2), 3002, True)),
    ("bert-tokcls", ("token-cls", "BertForTokenClassification",
                     lambda v: bert_config(v, 1, 32, 2, 64, ID2LABEL_NER), 4001, True)),
])


def build_hf_model(name: str, vocab: int):
    import transformers

    task, cls_name, make_cfg, seed, _ = FIXTURES[name]
    cfg = make_cfg(vocab)
    cls = getattr(transformers, cls_name)
    torch.manual_seed(seed)
    model = cls._from_config(cfg, attn_implementation="eager") if hasattr(cls, "_from_config") \
        else cls(cfg)
    model = model.float().eval()
    export_hf.perturb_parameters(model, seed + 1)
    return model


def _assert_same_weights(a, b, what):
    sa = dict(a.named_parameters(remove_duplicate=False))
    sb = dict(b.named_parameters(remove_duplicate=False))
    assert sa.keys() == sb.keys(), f"{what}: parameter names differ"
    for k in sa:
        assert torch.equal(sa[k], sb[k]), f"{what}: {k} differs after reload"


def make_model_fixture(name: str, vocab: int, log: dict):
    task, _, _, _, student = FIXTURES[name]
    out_dir = os.path.join(MODELS, name)
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    built = build_hf_model(name, vocab)
    with tempfile.TemporaryDirectory() as td:
        # export exactly what a user would load from an HF checkpoint folder; only config.json is
        # kept (model.safetensors would duplicate the ONNX initializers, generation_config.json
        # is not needed to rebuild the model)
        built.save_pretrained(td)
        model = export_hf.load_model(td, task, attn_implementation="eager")
        shutil.copyfile(os.path.join(td, "config.json"), os.path.join(out_dir, "config.json"))
    _assert_same_weights(built, model, name)
    exports = [("model.onnx", "torchscript", "eval", 17)]
    if student:
        exports.append(("model.dynamo.onnx", "dynamo", "eval", 18))
    if name == "bert-student":
        exports.append(("model.train.onnx", "torchscript", "train", 17))
    for fname, exporter, mode, opset in exports:
        path = os.path.join(out_dir, fname)
        side = export_hf.export(model, task, path, exporter=exporter, mode=mode, opset=opset,
                                tokenizer=TOKENIZER)
        log[os.path.relpath(path, MODELS)] = side
        # the folder alone (config.json + ONNX + sidecar) must give back the same HF model
        _assert_same_weights(model, export_hf.load_hf_from_onnx(path), f"{name}/{fname}")
    return model


def make_external(log: dict):
    src_dir = os.path.join(MODELS, "bert-student")
    out_dir = os.path.join(MODELS, "external")
    if os.path.isdir(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    proto = onnx.load(os.path.join(src_dir, "model.onnx"))
    onnx.save_model(proto, os.path.join(out_dir, "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="model.onnx_data", size_threshold=0,
                    convert_attribute=False)
    # sidecar + tokenizer only: the config and the *.ref.safetensors references are those of
    # bert-student (same initializer names and values), not duplicated here to save space
    for f in ("distill.json", "tokenizer.json"):
        shutil.copyfile(os.path.join(src_dir, f), os.path.join(out_dir, f))
    # sanity: every initializer is external, and loads back to the same values
    light = onnx.load(os.path.join(out_dir, "model.onnx"), load_external_data=False)
    assert all(i.data_location == onnx.TensorProto.EXTERNAL for i in light.graph.initializer)
    full = onnx.load(os.path.join(out_dir, "model.onnx"))
    src = onnx.load(os.path.join(src_dir, "model.onnx"))  # save_model externalized `proto` in place
    a = {i.name: onnx.numpy_helper.to_array(i) for i in src.graph.initializer}
    b = {i.name: onnx.numpy_helper.to_array(i) for i in full.graph.initializer}
    assert a.keys() == b.keys() and all((a[k] == b[k]).all() for k in a)
    side = json.load(open(os.path.join(out_dir, "distill.json")))
    side["_op_histogram"] = export_hf.op_histogram(full)
    log["external/model.onnx"] = side
    print(f"[make_fixtures] external/: {len(light.graph.initializer)} external initializers")


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def write_manifest(log: dict):
    files = []
    for root, _, names in os.walk(MODELS):
        for n in sorted(names):
            p = os.path.join(root, n)
            rel = os.path.relpath(p, MODELS).replace(os.sep, "/")
            if rel == "manifest.json":
                continue
            files.append({"path": rel, "bytes": os.path.getsize(p), "sha256": sha256(p)})
    files.sort(key=lambda f: f["path"])
    onnx_files = {}
    for root, _, names in os.walk(MODELS):
        for n in sorted(names):
            if not n.endswith(".onnx"):
                continue
            p = os.path.join(root, n)
            rel = os.path.relpath(p, MODELS).replace(os.sep, "/")
            m = onnx.load(p)
            entry = {
                "ir_version": m.ir_version,
                "opset_import": {o.domain or "ai.onnx": o.version for o in m.opset_import},
                "nodes": len(m.graph.node),
                "initializers": len(m.graph.initializer),
                "ops": export_hf.op_histogram(m),
            }
            side = export_hf.sidecar_path(p)
            if os.path.exists(side):
                with open(side, encoding="utf-8") as f:
                    sd = json.load(f)
                entry["exporter"] = sd.get("exporter")
                entry["mode"] = sd.get("mode")
                entry["ort_vs_torch_max_abs_diff"] = sd.get("verify_max_abs_diff")
                if sd.get("parameters"):
                    entry["differentiable_ops"] = export_hf.differentiable_ops(m, sd["parameters"])
            onnx_files[rel] = entry
    manifest = {
        "total_bytes": sum(f["bytes"] for f in files),
        "files": files,
        "onnx": dict(sorted(onnx_files.items())),
    }
    with open(os.path.join(MODELS, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    return manifest


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", nargs="*", default=None, help="fixture names (default: all)")
    ap.add_argument("--skip-refs", action="store_true", help="do not run reference_grads")
    ap.add_argument("--retrain-tokenizer", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    os.makedirs(MODELS, exist_ok=True)
    if args.retrain_tokenizer or not os.path.exists(TOKENIZER):
        train_tokenizer.train(out=TOKENIZER)
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(TOKENIZER).get_vocab_size()
    assert vocab == 2000, vocab

    names = args.only or list(FIXTURES) + ["external", "io"]
    log = {}
    for name in names:
        if name in FIXTURES:
            make_model_fixture(name, vocab, log)
        elif name == "external":
            make_external(log)
        elif name == "io":
            kitchen_sink.write(os.path.join(MODELS, "io"))
        else:
            raise SystemExit(f"unknown fixture {name}")

    if not args.skip_refs:
        import reference_grads

        folders = [n for n in names if n != "io"]
        reference_grads.run(folders)

    manifest = write_manifest(log)
    print("\n[make_fixtures] op histograms:")
    for rel, e in manifest["onnx"].items():
        print(f"  {rel}: opset={e['opset_import']} ir={e['ir_version']} nodes={e['nodes']} "
              f"inits={e['initializers']} diff={e.get('ort_vs_torch_max_abs_diff')}")
        print("    all : " + ", ".join(f"{k}:{v}" for k, v in e["ops"].items()))
        if e.get("differentiable_ops"):
            print("    diff: " + ", ".join(f"{k}:{v}" for k, v in e["differentiable_ops"].items()))
    print(f"\n[make_fixtures] models/ total {manifest['total_bytes'] / 1e6:.2f} MB in {len(manifest['files'])} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
