#!/usr/bin/env python3
"""Make the benchmark models of scripts/bench/bench.mjs under .bench/ (not committed: .gitignore).

  python scripts/bench/make_bench_models.py [small|base|all]      (default: small)

For each config, a random-init HF BertForSequenceClassification teacher and student (vocab 30522 as
bert-base-uncased, max_position_embeddings 512, num_labels 2, seeded init + export_hf's seeded
N(0, 0.02^2) perturbation) are written to

  .bench/<config>/<role>/model.onnx (+ model.onnx_data over 100 MB)   TorchScript, eval, opset 17,
                                                                      IR 9, 1 initializer per
                                                                      HF parameter (export_hf.export)
  .bench/<config>/<role>/distill.json     the export sidecar (task, parameter map, ...)
  .bench/<config>/<role>/config.json      the HF config
  .bench/<config>/<role>/hf/              save_pretrained: model.safetensors + config.json, the
                                          identical weights for scripts/bench/bench_torch.py

| config | teacher (layers/hidden/heads/ffn) | student |
|---|---|---|
| small  | 4 / 256 / 4 / 1024                | 2 / 128 / 2 / 512 |
| base   | 12 / 768 / 12 / 3072 (bert-base)  | 6 / 768 / 12 / 3072 |

Each export is checked by export_hf (onnxruntime vs PyTorch logits < 1e-4) and the ONNX
initializers are read back through the sidecar (export_hf.load_hf_from_onnx) and compared bit for
bit with the HF weights saved in hf/.  A config whose files exist is skipped (--force remakes it).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

import onnx
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(HERE), "tools")  # export_hf
sys.path.insert(0, HERE)
sys.path.insert(0, TOOLS)

import export_hf  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(REPO, ".bench")
VOCAB = 30522
MAX_POS = 512
ID2LABEL = {0: "negative", 1: "positive"}
EXTERNAL_ABOVE = 100 * 1024 * 1024  # bytes

CONFIGS = {
    "small": {
        "teacher": dict(layers=4, hidden=256, heads=4, inter=1024, seed=7001),
        "student": dict(layers=2, hidden=128, heads=2, inter=512, seed=7002),
    },
    "base": {
        "teacher": dict(layers=12, hidden=768, heads=12, inter=3072, seed=7101),
        "student": dict(layers=6, hidden=768, heads=12, inter=3072, seed=7102),
    },
}


def bert_config(spec):
    from transformers import BertConfig

    return BertConfig(
        vocab_size=VOCAB, hidden_size=spec["hidden"], num_hidden_layers=spec["layers"],
        num_attention_heads=spec["heads"], intermediate_size=spec["inter"], hidden_act="gelu",
        max_position_embeddings=MAX_POS, type_vocab_size=2, hidden_dropout_prob=0.1,
        attention_probs_dropout_prob=0.1, pad_token_id=0, num_labels=2, id2label=dict(ID2LABEL),
        label2id={v: k for k, v in ID2LABEL.items()},
    )


def externalize(path: str) -> bool:
    """Move the initializers of a model over EXTERNAL_ABOVE bytes into model.onnx_data."""
    if os.path.getsize(path) <= EXTERNAL_ABOVE:
        return False
    proto = onnx.load(path)
    data = os.path.basename(path) + "_data"
    if os.path.exists(os.path.join(os.path.dirname(path), data)):
        os.remove(os.path.join(os.path.dirname(path), data))
    onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data, size_threshold=1024, convert_attribute=False)
    return True


def make_role(config: str, role: str, spec: dict) -> dict:
    from transformers import BertForSequenceClassification

    out = os.path.join(BENCH, config, role)
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    t0 = time.perf_counter()
    torch.manual_seed(spec["seed"])
    model = BertForSequenceClassification._from_config(bert_config(spec), attn_implementation="eager").float()
    export_hf.perturb_parameters(model, spec["seed"] + 1)
    model.eval()
    hf_dir = os.path.join(out, "hf")
    model.save_pretrained(hf_dir, safe_serialization=True)
    shutil.copyfile(os.path.join(hf_dir, "config.json"), os.path.join(out, "config.json"))
    # export what from_pretrained loads (as make_fixtures / make_demo_models do)
    loaded = export_hf.load_model(hf_dir, "seq-cls", attn_implementation="eager")
    path = os.path.join(out, "model.onnx")
    export_hf.export(loaded, "seq-cls", path, exporter="torchscript", mode="eval", opset=17,
                     ir_version=9, quiet=False)
    external = externalize(path)
    back = export_hf.load_hf_from_onnx(path)
    a = dict(model.named_parameters())
    b = dict(back.named_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{config}/{role}: weights differ"
    n = sum(p.numel() for p in model.parameters())
    size = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out) if f.startswith("model.onnx"))
    info = {"role": role, **spec, "parameters": n, "onnx_bytes": size, "external_data": external,
            "seconds": round(time.perf_counter() - t0, 1)}
    print(f"[make_bench_models] {config}/{role}: {n / 1e6:.1f} M parameters, ONNX {size / 1e6:.1f} MB"
          f"{' (external data)' if external else ''}, {info['seconds']} s", flush=True)
    return info


def done(config: str) -> bool:
    return os.path.isfile(os.path.join(BENCH, config, "models.json"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("which", nargs="?", default="small", choices=("small", "base", "all"))
    ap.add_argument("--force", action="store_true", help="remake configs that already exist")
    args = ap.parse_args(argv)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    configs = list(CONFIGS) if args.which == "all" else [args.which]
    for config in configs:
        if done(config) and not args.force:
            print(f"[make_bench_models] {config}: exists in {os.path.join(BENCH, config)} (--force remakes it)")
            continue
        infos = [make_role(config, role, spec) for role, spec in CONFIGS[config].items()]
        with open(os.path.join(BENCH, config, "models.json"), "w", encoding="utf-8") as f:
            json.dump({"config": config, "vocab_size": VOCAB, "max_position_embeddings": MAX_POS,
                       "num_labels": 2, "models": infos}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
