#!/usr/bin/env python3
"""Parity fixtures for the families whose exports need the gradient rules of the op census
(scripts/op_census.py, docs/AUTODIFF.md): one user-style export each, PyTorch 3-step references.

  python scripts/make_family_fixtures.py [FAMILY ...]      (default: all; writes models/user/<family>/)

  deberta-v2   DeBERTa-v2 with relative-position attention (c2p + p2c, position buckets): TorchScript
               export (Tile in the relative attention)
  mobilebert   MobileBERT with bottlenecks, trigram embeddings, NoNorm and 2 stacked feed-forwards:
               TorchScript export (Pad in the trigram embeddings)
  llama        Llama with RMSNorm, rotary positions, SwiGLU, grouped-query attention (2 query heads,
               1 key/value head) and an untied LM head: dynamo export (torch.onnx.export's default)
  mpnet        MPNet with relative position buckets: TorchScript export
  qwen2-seq-cls  a Qwen2 decoder classifier (q/k/v biases, GQA): dynamo export, which picks each row's
               last token with GatherND
  gemma        Gemma (RMSNorm as x * (1 + w), tied embeddings scaled by sqrt(hidden), GeGLU): dynamo export,
               which folds each fresh norm's 1 + w into one shared constant of ones

Everything else (tokenizer, rows, collate, loss, optimizers, reference format) is make_user_exports.py's, so
test/params-parity.test.ts's conventions hold: see docs/FIXTURES.md, "User-style exports".
"""
from __future__ import annotations

import json
import os
import sys

import torch
import transformers as T

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_user_exports as mue  # noqa: E402

COMMON = mue.COMMON
FAMILIES = {  # name -> (task, config, teacher folder, the one export)
    "deberta-v2": ("seq-cls", lambda: T.DebertaV2Config(
        **COMMON, relative_attention=True, position_buckets=16, max_relative_positions=64,
        pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm", **mue.LABELS),
        "bert-teacher", "torchscript"),
    "mobilebert": ("seq-cls", lambda: T.MobileBertConfig(
        **{**COMMON, "intermediate_size": 32}, embedding_size=16, intra_bottleneck_size=16,
        true_hidden_size=16, num_feedforward_networks=2, **mue.LABELS), "bert-teacher", "torchscript"),
    "llama": ("causal-lm", lambda: T.LlamaConfig(
        **COMMON, num_key_value_heads=1, bos_token_id=2, eos_token_id=3, use_cache=False,
        tie_word_embeddings=False), "gpt2-teacher", "dynamo"),
    # relative position buckets added to the attention scores; 66 positions as RoBERTa (ids after padding)
    "mpnet": ("seq-cls", lambda: T.MPNetConfig(
        **{**COMMON, "max_position_embeddings": 66}, relative_attention_num_buckets=32, **mue.LABELS),
        "bert-teacher", "torchscript"),
    # a decoder classifier: dynamo picks each row's last token with GatherND; q/k/v biases
    "qwen2-seq-cls": ("seq-cls", lambda: T.Qwen2Config(
        **COMMON, num_key_value_heads=1, bos_token_id=2, eos_token_id=3, use_cache=False, **mue.LABELS),
        "bert-teacher", "dynamo"),
    # RMSNorm as x * (1 + w) with w = 0 at init: the export folds 1 + w into a constant of ones
    "gemma": ("causal-lm", lambda: T.GemmaConfig(
        **COMMON, num_key_value_heads=1, head_dim=16, bos_token_id=2, eos_token_id=3, use_cache=False),
        "gpt2-teacher", "dynamo"),
    "xlm-roberta": ("seq-cls", lambda: T.XLMRobertaConfig(
        **{**COMMON, "max_position_embeddings": 66}, **mue.LABELS), "bert-teacher", "torchscript"),
    "modernbert": ("seq-cls", lambda: T.ModernBertConfig(
        **COMMON, local_attention=16, global_attn_every_n_layers=2, bos_token_id=2, eos_token_id=3,
        cls_token_id=2, sep_token_id=3, **mue.LABELS), "bert-teacher", "dynamo"),
    "qwen2": ("causal-lm", lambda: T.Qwen2Config(
        **COMMON, num_key_value_heads=1, bos_token_id=2, eos_token_id=3, use_cache=False), "gpt2-teacher", "dynamo"),
    "mistral": ("causal-lm", lambda: T.MistralConfig(
        **COMMON, num_key_value_heads=1, bos_token_id=2, eos_token_id=3, use_cache=False), "gpt2-teacher", "dynamo"),
    "phi3": ("causal-lm", lambda: T.Phi3Config(
        **COMMON, num_key_value_heads=1, bos_token_id=2, eos_token_id=3, use_cache=False), "gpt2-teacher", "dynamo"),
    # tied explicitly: with the config's default, save_pretrained leaves lm_head.weight out of
    # model.safetensors although named_parameters() lists it apart (transformers 5.18). TorchScript: the
    # dynamo export merges the parallel residual's two LayerNorms, identical at init, into one node
    "gpt-neox": ("causal-lm", lambda: T.GPTNeoXConfig(
        **COMMON, bos_token_id=2, eos_token_id=3, use_cache=False, tie_word_embeddings=True), "gpt2-teacher", "torchscript"),
}
EXPORTERS = {"torchscript": mue.export_torchscript, "dynamo": mue.export_dynamo}
INDEX_BASE = 10  # seeds SEED + 10 + i: apart from make_user_exports.py's families


def run_family(family, index):
    task, make_cfg, teacher, exporter = FAMILIES[family]
    folder = os.path.join(mue.OUT_ROOT, family)
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        os.remove(os.path.join(folder, f))
    print(f"[{family}] {task}, {exporter} export")
    torch.manual_seed(mue.SEED + INDEX_BASE + index)
    model = mue.AUTO[task].from_config(make_cfg()).float().eval()
    mue.save_folder(model, family, folder)
    model = mue.AUTO[task].from_pretrained(folder, dtype=torch.float32).eval()
    eval_batch = mue.padded(mue.random_rows(mue.EVAL_LENGTHS, mue.SEED + 200))
    other = mue.padded(mue.random_rows([13, 9], mue.SEED + 201))
    rows = mue.train_rows(task)
    with open(os.path.join(folder, "train.jsonl"), "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    path = os.path.join(folder, f"{exporter}.onnx")
    torch.manual_seed(0)
    EXPORTERS[exporter](model, task, path, eval_batch)
    print(f"    {exporter}: onnxruntime vs PyTorch {mue.ort_check(path, model, [eval_batch, other]):.1e}")
    mue.reference(family, index, folder, rows, eval_batch, exports=(exporter,))
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder))
    print(f"    {mue.rel(folder)}: {size:,} bytes")


def main(argv):
    # mue.reference looks the task and teacher up in its own table
    for n, (task, make_cfg, teacher, _) in FAMILIES.items():
        mue.FAMILIES[n] = (task, make_cfg, teacher)
    return mue.main(argv, FAMILIES, run_family)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
