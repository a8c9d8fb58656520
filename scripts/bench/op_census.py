#!/usr/bin/env python3
"""Op census: which ops lie on the differentiable path of the exports users make, and are they covered.

  python scripts/bench/op_census.py export [--out /tmp/op-census] [FAMILY ...]   export every family x head x exporter
  python scripts/bench/op_census.py table  [--out /tmp/op-census]                run the CLI on each export, print the table

`export` builds a tiny random-init model of each family (hidden 32, 2 layers, vocabulary 2000, seeded), saves
it with save_pretrained (config.json, model.safetensors) and exports it with both torch exporters at their
defaults: torch.onnx.export(dynamo=False) -> torchscript.onnx, torch.onnx.export(dynamo=True) -> dynamo.onnx.
Each lands in OUT/<family>-<head>-<exporter>/ beside the HF files, as users have them. Exports that fail are
recorded in OUT/failures.json with the exporter's last error line.

`table` runs `node dist/src/cli/main.js inspect --grad-coverage --json` on every export (so "covered" means
exactly: our rule registry differentiates it, after parameter discovery) and prints the markdown table that
docs/AUTODIFF.md carries: family x head x exporter -> op types on the path from the parameters to the
logits, uncovered ones in bold. Nothing here is committed: the models go to OUT (default /tmp/op-census).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import traceback
import warnings

import torch
import transformers as T

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CLI = os.path.join(ROOT, "dist", "src", "cli", "main.js")
SEED = 2200
LABELS = {"id2label": {0: "ham", 1: "spam"}, "label2id": {"ham": 0, "spam": 1}}
# tiny shapes: hidden 32, 2 layers, 2 heads, ffn 64, 64 positions, pad id 0
C = dict(vocab_size=2000, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
         max_position_embeddings=64, pad_token_id=0)
DEC = dict(C, num_key_value_heads=1, bos_token_id=1, eos_token_id=2, use_cache=False, tie_word_embeddings=False)
ENC_HEADS = ("seq-cls", "token-cls")
DEC_HEADS = ("causal-lm", "seq-cls")
FAMILIES = {  # name -> (config factory, heads)
    "bert": (lambda: T.BertConfig(**C), ENC_HEADS),
    "roberta": (lambda: T.RobertaConfig(**{**C, "max_position_embeddings": 66}), ENC_HEADS),
    "xlm-roberta": (lambda: T.XLMRobertaConfig(**{**C, "max_position_embeddings": 66}), ENC_HEADS),
    # relative-position attention (c2p + p2c), position buckets, as deberta-v3-small has it
    "deberta-v2": (lambda: T.DebertaV2Config(**C, relative_attention=True, position_buckets=16,
                                             max_relative_positions=64, pos_att_type=["p2c", "c2p"],
                                             share_att_key=True, norm_rel_ebd="layer_norm"), ENC_HEADS),
    "electra": (lambda: T.ElectraConfig(**C, embedding_size=16), ENC_HEADS),
    "albert": (lambda: T.AlbertConfig(**C, embedding_size=16), ENC_HEADS),
    "mpnet": (lambda: T.MPNetConfig(**{**C, "max_position_embeddings": 66}, relative_attention_num_buckets=32),
              ENC_HEADS),
    # bottlenecks, trigram embeddings, NoNorm, 2 stacked feed-forwards: google/mobilebert-uncased's layout
    "mobilebert": (lambda: T.MobileBertConfig(**{**C, "intermediate_size": 32}, embedding_size=16,
                                              intra_bottleneck_size=16, true_hidden_size=16,
                                              num_feedforward_networks=2), ENC_HEADS),
    "distilbert": (lambda: T.DistilBertConfig(vocab_size=2000, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                              max_position_embeddings=64, pad_token_id=0), ENC_HEADS),
    "modernbert": (lambda: T.ModernBertConfig(**C, global_attn_every_n_layers=2, local_attention=16), ENC_HEADS),
    "gpt2": (lambda: T.GPT2Config(vocab_size=2000, n_embd=32, n_layer=2, n_head=2, n_inner=64, n_positions=64,
                                  pad_token_id=0, bos_token_id=1, eos_token_id=2, use_cache=False), DEC_HEADS),
    "gpt-neox": (lambda: T.GPTNeoXConfig(**{k: v for k, v in DEC.items() if k != "num_key_value_heads"},
                                         rotary_pct=0.5), DEC_HEADS),
    # RMSNorm, rotary positions, SwiGLU, grouped-query attention (2 query heads, 1 key/value head), untied head
    "llama": (lambda: T.LlamaConfig(**DEC), DEC_HEADS),
    "qwen2": (lambda: T.Qwen2Config(**DEC), DEC_HEADS),
    "mistral": (lambda: T.MistralConfig(**DEC, sliding_window=16), DEC_HEADS),
    "phi3": (lambda: T.Phi3Config(**DEC), DEC_HEADS),
    "gemma": (lambda: T.GemmaConfig(**{**DEC, "tie_word_embeddings": True}, head_dim=16), DEC_HEADS),
}
AUTO = {"seq-cls": T.AutoModelForSequenceClassification, "token-cls": T.AutoModelForTokenClassification,
        "causal-lm": T.AutoModelForCausalLM}


@contextlib.contextmanager
def quiet():
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


@contextlib.contextmanager
def logits_only(model):
    """model.forward(input_ids, attention_mask) -> logits, on the instance (parameter names unchanged)."""
    orig = model.forward
    model.forward = lambda input_ids, attention_mask: orig(input_ids=input_ids, attention_mask=attention_mask).logits
    try:
        yield model
    finally:
        del model.forward


def sample():
    g = torch.Generator().manual_seed(SEED)
    ids = torch.randint(5, 2000, (3, 8), generator=g)
    am = torch.ones_like(ids)
    am[1, 5:] = 0
    am[2, 3:] = 0
    ids[am == 0] = 0
    return ids, am


def export(folder, model, head, exporter):
    ids, am = sample()
    path = os.path.join(folder, "model.onnx")
    seq_out = head != "seq-cls"
    with quiet():
        if exporter == "torchscript":
            dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                   "logits": {0: "batch", 1: "sequence"} if seq_out else {0: "batch"}}
            with logits_only(model) as m:
                torch.onnx.export(m, (ids, am), path, dynamo=False, input_names=["input_ids", "attention_mask"],
                                  output_names=["logits"], dynamic_axes=dyn)
        else:
            dyn = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
            torch.onnx.export(model, (), path, kwargs={"input_ids": ids, "attention_mask": am}, dynamo=True,
                              input_names=["input_ids", "attention_mask"], output_names=["logits"],
                              dynamic_shapes=dyn)
    return path


def do_export(out, families):
    failures = {}
    for i, family in enumerate(families):
        make_cfg, heads = FAMILIES[family]
        for head in heads:
            cfg = make_cfg()
            if head != "causal-lm":
                for k, v in LABELS.items():
                    setattr(cfg, k, v)
            torch.manual_seed(SEED + i)
            try:
                model = AUTO[head].from_config(cfg).float().eval()
            except Exception as e:  # noqa: BLE001 - a head the family lacks
                failures[f"{family}-{head}"] = f"no such head: {str(e).splitlines()[0][:200]}"
                continue
            for exporter in ("torchscript", "dynamo"):
                folder = os.path.join(out, f"{family}-{head}-{exporter}")
                os.makedirs(folder, exist_ok=True)
                model.save_pretrained(folder)
                try:
                    export(folder, model, head, exporter)
                    print(f"{family}-{head}-{exporter}: ok", flush=True)
                except Exception as e:  # noqa: BLE001 - recorded, the census goes on
                    lines = [l for l in traceback.format_exception_only(type(e), e)[-1].splitlines() if l.strip()]
                    failures[f"{family}-{head}-{exporter}"] = (lines[-1] if lines else type(e).__name__)[:300]
                    print(f"{family}-{head}-{exporter}: FAILED {failures[f'{family}-{head}-{exporter}']}", flush=True)
    with open(os.path.join(out, "failures.json"), "w") as f:
        json.dump(failures, f, indent=1, sort_keys=True)


def do_table(out):
    failures = json.load(open(os.path.join(out, "failures.json"))) if os.path.exists(os.path.join(out, "failures.json")) else {}
    rows, uncovered_total = [], {}
    for family, (_, heads) in FAMILIES.items():
        for head in heads:
            for exporter in ("torchscript", "dynamo"):
                key = f"{family}-{head}-{exporter}"
                path = os.path.join(out, key, "model.onnx")
                if key in failures or f"{family}-{head}" in failures or not os.path.exists(path):
                    why = failures.get(key) or failures.get(f"{family}-{head}") or "not exported"
                    rows.append((family, head, exporter, None, f"export failed: {why}"))
                    continue
                r = subprocess.run(["node", CLI, "inspect", path, "--grad-coverage", "--json"], cwd=ROOT,
                                   capture_output=True, text=True)
                if r.returncode not in (0, 3) or not r.stdout.strip():
                    rows.append((family, head, exporter, None, f"inspect failed: {r.stderr.strip()[:200]}"))
                    continue
                cov = json.loads(r.stdout)
                rows.append((family, head, exporter, cov, ""))
                for op in cov["uncoveredOps"]:
                    uncovered_total.setdefault(op, []).append(key)
    print("| family | head | exporter | opset | ops on the path (uncovered in bold) |")
    print("| --- | --- | --- | --- | --- |")
    for family, head, exporter, cov, note in rows:
        if cov is None:
            print(f"| {family} | {head} | {exporter} | | {note} |")
            continue
        ops = ", ".join(f"**{op}**" if op in cov["uncoveredOps"] else op for op in sorted(cov["opsOnPath"]))
        print(f"| {family} | {head} | {exporter} | {cov['opset']} | {ops} |")
    print()
    print("uncovered:", json.dumps({k: len(v) for k, v in sorted(uncovered_total.items())}))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["export", "table"])
    ap.add_argument("families", nargs="*", default=list(FAMILIES))
    ap.add_argument("--out", default="/tmp/op-census")
    a = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    if a.what == "export":
        do_export(a.out, a.families)
    else:
        do_table(a.out)


if __name__ == "__main__":
    sys.exit(main())
