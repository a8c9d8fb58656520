#!/usr/bin/env python3
"""Make the models of `distill demo` (spam vs ham on the SpamAssassin corpus) under models/demo/.

  python scripts/make_demo_models.py [--skip-students]

Steps (deterministic: two runs write byte-identical files with the versions of requirements.txt)
  1. models/demo/split.json     fixed stratified 80/20 train/eval split of the 6046 e-mails
  2. models/demo/teacher/       BertForSequenceClassification (2 layers, hidden 96, 4 heads,
                                ffn 192) fine-tuned here on the train split; model.onnx +
                                distill.json (TorchScript, eval, opset 17, IR 9) + config.json +
                                tokenizer.json
  3. models/demo/student/       BertForSequenceClassification (1 layer, hidden 64, 2 heads, ffn 128),
                                random init (seeded, NOT trained: it learns from the teacher in TS),
                                exported the same way
  4. models/demo/expected.json  what to expect: teacher eval accuracy / macro-F1 (PyTorch and ORT)
                                and the PyTorch accuracy of the student after 2 epochs of CE-only
                                or KD training, with all / 5% of the labels (those trained students
                                are not kept). --skip-students leaves these numbers out.

See docs/FIXTURES.md, section "Demo models (models/demo/)", for the text extraction, the split and
the training recipes.
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import random
import re
import shutil
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import export_hf  # noqa: E402
from make_fixtures import ID2LABEL_SPAM, bert_config  # noqa: E402
from train_tokenizer import _BLANK_LINE, DEFAULT_DATA, decode_bytes  # noqa: E402

REPO = os.path.dirname(HERE)
TOKENIZER = os.path.join(REPO, "models", "tokenizer.json")
OUT = os.path.join(REPO, "models", "demo")

# folder -> label (0 = ham, 1 = spam); counts from the package README / data/file_list.json
GROUPS = {"easy-ham-1": (0, 2500), "easy-ham-2": (0, 1400), "hard-ham-1": (0, 250),
          "spam-1": (1, 500), "spam-2": (1, 1396)}
N_EMAILS = 6046
SPLIT_SEED = 42
EVAL_FRACTION = 0.2
MAX_LEN = 128            # tokens, [CLS] and [SEP] included
CLS_ID, SEP_ID, PAD_ID = 2, 3, 0
THREADS = 2

TEACHER = dict(layers=2, hidden=96, heads=4, inter=192, seed=5001)
STUDENT = dict(layers=1, hidden=64, heads=2, inter=128, seed=5002)
TEACHER_TRAIN = dict(epochs=5, batch=32, lr=1e-3, weight_decay=0.01, warmup=0.1, max_grad_norm=1.0,
                     seed=5101)
STUDENT_TRAIN = dict(epochs=2, batch=32, lr=1e-3, weight_decay=0.01, warmup=0.0, max_grad_norm=1.0,
                     seed=5201)
KD_ALPHA, KD_T = 0.5, 2.0
LABELLED_EVERY = 20      # the "5% labels" runs keep the labels of train[i] with i % 20 == 0
SIZE_LIMIT = 3_000_000   # bytes, all of models/demo/


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------

def subject_line(header: bytes) -> bytes:
    """Value of the first `Subject:` header (case-insensitive), unfolded: the value and each
    continuation line (starting with space/tab) stripped of ASCII whitespace, non-empty pieces
    joined with one space. RFC 2047 encoded words are kept as they are. b"" if there is none."""
    lines = re.split(rb"\r?\n", header)
    for i, line in enumerate(lines):
        if line[:8].lower() == b"subject:":
            pieces = [line[8:].strip()]
            for cont in lines[i + 1:]:
                if cont[:1] not in (b" ", b"\t"):
                    break
                pieces.append(cont.strip())
            return b" ".join(p for p in pieces if p)
    return b""


def email_text(raw: bytes) -> str:
    """Subject + "\\n" + body. Header = bytes before the first blank line, body = bytes after it
    (as train_tokenizer.email_body); each part decoded on its own: UTF-8 if valid, else latin-1."""
    m = _BLANK_LINE.search(raw)
    header, body = (raw[:m.start()], raw[m.end():]) if m else (b"", raw)
    return decode_bytes(subject_line(header)) + "\n" + decode_bytes(body)


def load_corpus(data_dir: str):
    with open(os.path.join(data_dir, "file_list.json"), encoding="utf-8") as f:
        files = json.load(f)
    files = sorted(files)
    assert len(files) == N_EMAILS == len(set(files)), len(files)
    for g, (_, n) in GROUPS.items():
        got = sum(1 for p in files if p.split("/")[0] == g)
        assert got == n, f"{g}: {got} files, expected {n}"
    labels = {p: GROUPS[p.split("/")[0]][0] for p in files}
    texts = {}
    for p in files:
        with open(os.path.join(data_dir, p), "rb") as f:
            texts[p] = email_text(f.read())
    return files, labels, texts


def make_split(files, labels):
    """Stratified 80/20: per label (ham, then spam) the sorted paths are shuffled with one
    random.Random(42); the first round(20%) go to eval. Both lists are written sorted."""
    rng = random.Random(SPLIT_SEED)
    train, evl = [], []
    for lab in (0, 1):
        group = sorted(p for p in files if labels[p] == lab)
        rng.shuffle(group)
        n_eval = int(round(EVAL_FRACTION * len(group)))
        evl += group[:n_eval]
        train += group[n_eval:]
    return sorted(train), sorted(evl)


def write_split(train, evl, path):
    # one path per line, no indentation (diff-friendly, small)
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        for i, (key, lst) in enumerate((("train", train), ("eval", evl))):
            f.write(f'"{key}": [\n' + ",\n".join(json.dumps(p) for p in lst) + "\n]")
            f.write(",\n" if i == 0 else "\n")
        f.write("}\n")


def tokenize(texts):
    """[CLS] + first MAX_LEN-2 WordPiece ids of the text + [SEP] (= tokenizers' truncation to
    MAX_LEN with the tokenizer's template)."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(TOKENIZER)
    assert tok.token_to_id("[CLS]") == CLS_ID and tok.token_to_id("[SEP]") == SEP_ID
    encs = tok.encode_batch(texts, add_special_tokens=False)
    return [[CLS_ID] + e.ids[:MAX_LEN - 2] + [SEP_ID] for e in encs]


def pad_batch(seqs):
    n = max(len(s) for s in seqs)
    ids = torch.zeros((len(seqs), n), dtype=torch.int64)
    am = torch.zeros((len(seqs), n), dtype=torch.int64)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s, dtype=torch.int64)
        am[i, :len(s)] = 1
    return ids, am


# --------------------------------------------------------------------------------------------
# models, training, evaluation
# --------------------------------------------------------------------------------------------

def build_model(spec, vocab):
    from transformers import BertForSequenceClassification

    cfg = bert_config(vocab, spec["layers"], spec["hidden"], spec["heads"], spec["inter"], ID2LABEL_SPAM)
    torch.manual_seed(spec["seed"])
    model = BertForSequenceClassification._from_config(cfg, attn_implementation="eager").float()
    export_hf.perturb_parameters(model, spec["seed"] + 1)
    return model.eval()


def distill_loss(student, labels, teacher, alpha, T):
    """As src/losses/distill.ts: alpha * CE(labelled rows; 0 if none) + (1 - alpha) * T^2 *
    batchmean KL(softmax(teacher/T) || softmax(student/T)) over all rows. No teacher: CE."""
    counted = labels != -100
    if counted.any():
        ce = F.cross_entropy(student, labels, ignore_index=-100)
    else:
        ce = student.sum() * 0.0
    if teacher is None:
        return ce
    kd = F.kl_div(F.log_softmax(student / T, -1), F.softmax(teacher / T, -1),
                  reduction="batchmean") * (T * T)
    return alpha * ce + (1 - alpha) * kd


def train(model, seqs, labels, hp, teacher_logits=None, alpha=KD_ALPHA, T=KD_T):
    """AdamW (torch defaults, weight decay on every parameter as in src/optim/adamw.ts), linear
    warmup then linear decay to 0, grad-norm clipping, dropout on; a fresh seeded permutation of
    the rows every epoch, last partial batch kept."""
    n = len(seqs)
    steps_per_epoch = math.ceil(n / hp["batch"])
    total = steps_per_epoch * hp["epochs"]
    warm = int(hp["warmup"] * total)
    opt = torch.optim.AdamW(model.parameters(), lr=hp["lr"], weight_decay=hp["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (total - s) / max(1, total - warm)))
    g = torch.Generator().manual_seed(hp["seed"])
    torch.manual_seed(hp["seed"] + 1)  # dropout
    labels = torch.tensor(labels, dtype=torch.int64)
    model.train()
    for _ in range(hp["epochs"]):
        perm = torch.randperm(n, generator=g).tolist()
        for k in range(steps_per_epoch):
            idx = perm[k * hp["batch"]:(k + 1) * hp["batch"]]
            ids, am = pad_batch([seqs[i] for i in idx])
            logits = model(input_ids=ids, attention_mask=am).logits
            t = teacher_logits[idx] if teacher_logits is not None else None
            loss = distill_loss(logits, labels[idx], t, alpha, T)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), hp["max_grad_norm"])
            opt.step()
            sched.step()
    model.eval()
    return model


@torch.no_grad()
def predict_logits(model, seqs, batch=64):
    model.eval()
    out = []
    for k in range(0, len(seqs), batch):
        ids, am = pad_batch(seqs[k:k + batch])
        out.append(model(input_ids=ids, attention_mask=am).logits.float())
    return torch.cat(out)


def metrics(pred, gold):
    pred, gold = np.asarray(pred), np.asarray(gold)
    acc = float((pred == gold).mean())
    f1s = []
    for c in (0, 1):
        tp = int(((pred == c) & (gold == c)).sum())
        fp = int(((pred == c) & (gold != c)).sum())
        fn = int(((pred != c) & (gold == c)).sum())
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": round(acc, 4), "macro_f1": round(float(np.mean(f1s)), 4),
            "errors": int((pred != gold).sum())}


def ort_predict(onnx_path, seqs, batch=64):
    preds = []
    for k in range(0, len(seqs), batch):
        ids, am = pad_batch(seqs[k:k + batch])
        preds += export_hf.ort_logits(onnx_path, ids.numpy(), am.numpy()).argmax(-1).tolist()
    return preds


def export_folder(model, name):
    """As make_fixtures.make_model_fixture: export what from_pretrained loads from a real HF
    checkpoint folder; keep config.json, not the checkpoint."""
    out_dir = os.path.join(OUT, name)
    os.makedirs(out_dir)
    with tempfile.TemporaryDirectory() as td:
        model.save_pretrained(td)
        loaded = export_hf.load_model(td, "seq-cls", attn_implementation="eager")
        shutil.copyfile(os.path.join(td, "config.json"), os.path.join(out_dir, "config.json"))
    path = os.path.join(out_dir, "model.onnx")
    export_hf.export(loaded, "seq-cls", path, exporter="torchscript", mode="eval", opset=17,
                     tokenizer=TOKENIZER)
    back = export_hf.load_hf_from_onnx(path)
    a = dict(model.named_parameters())
    b = dict(back.named_parameters())
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), f"{name}: weights differ"
    return path


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="SpamAssassin data folder")
    ap.add_argument("--skip-students", action="store_true",
                    help="do not run the PyTorch student experiments (expected.json without them)")
    args = ap.parse_args(argv)
    torch.set_num_threads(THREADS)
    torch.use_deterministic_algorithms(True)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    timing = {}
    t0 = time.perf_counter()

    # 1. data + split
    files, labels, texts = load_corpus(args.data)
    train_files, eval_files = make_split(files, labels)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    write_split(train_files, eval_files, os.path.join(OUT, "split.json"))
    tr_seqs = tokenize([texts[p] for p in train_files])
    ev_seqs = tokenize([texts[p] for p in eval_files])
    tr_y = [labels[p] for p in train_files]
    ev_y = [labels[p] for p in eval_files]
    print(f"[demo] split: train {len(tr_y)} (spam {sum(tr_y)}), eval {len(ev_y)} (spam {sum(ev_y)}); "
          f"mean tokens train {np.mean([len(s) for s in tr_seqs]):.1f}, "
          f"{sum(len(s) == MAX_LEN for s in tr_seqs + ev_seqs)} e-mails truncated to {MAX_LEN}")
    timing["data+split+tokenize"] = time.perf_counter() - t0

    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(TOKENIZER).get_vocab_size()
    assert vocab == 2000, vocab

    # 2. teacher
    t = time.perf_counter()
    teacher = build_model(TEACHER, vocab)
    train(teacher, tr_seqs, tr_y, TEACHER_TRAIN)
    t_logits_ev = predict_logits(teacher, ev_seqs)
    t_eval = metrics(t_logits_ev.argmax(-1).tolist(), ev_y)
    t_train = metrics(predict_logits(teacher, tr_seqs).argmax(-1).tolist(), tr_y)
    print(f"[demo] teacher ({n_params(teacher)} params): eval {t_eval}, train {t_train}")
    timing["teacher train+eval"] = time.perf_counter() - t

    t = time.perf_counter()
    t_path = export_folder(teacher, "teacher")
    t_ort = metrics(ort_predict(t_path, ev_seqs), ev_y)
    assert t_ort["accuracy"] == t_eval["accuracy"], (t_ort, t_eval)

    # 3. student (random init, exported untrained)
    student0 = build_model(STUDENT, vocab)
    s_path = export_folder(student0, "student")
    s_untrained = metrics(ort_predict(s_path, ev_seqs), ev_y)
    timing["export (+ORT eval)"] = time.perf_counter() - t

    expected = {
        "note": "PyTorch numbers from scripts/make_demo_models.py (torch 2.13 CPU, 2 threads); "
                "accuracy/macro_f1 on the eval split of split.json",
        "tokens": {"max_length": MAX_LEN, "rule": "[CLS] + first 126 WordPiece ids of subject+'\\n'+body + [SEP]"},
        "teacher": {"config": TEACHER, "params": n_params(teacher), "train_recipe": TEACHER_TRAIN,
                    "eval": t_eval, "train": t_train, "eval_onnxruntime": t_ort},
        "student": {"config": STUDENT, "params": n_params(student0), "untrained_eval": s_untrained},
    }

    # 4. student experiments (not kept)
    if not args.skip_students:
        t = time.perf_counter()
        t_logits_tr = predict_logits(teacher, tr_seqs)
        few = [y if i % LABELLED_EVERY == 0 else -100 for i, y in enumerate(tr_y)]
        runs = {}
        for lab_name, ys in (("all", tr_y), ("5%", few)):
            for kind in ("ce", "kd"):
                ts = time.perf_counter()
                s = copy.deepcopy(student0)
                train(s, tr_seqs, ys, STUDENT_TRAIN, teacher_logits=t_logits_tr if kind == "kd" else None)
                m = metrics(predict_logits(s, ev_seqs).argmax(-1).tolist(), ev_y)
                m["seconds"] = round(time.perf_counter() - ts, 1)
                runs[f"{kind}/{lab_name}"] = m
                print(f"[demo] student {kind} labels={lab_name}"
                      f" ({sum(y != -100 for y in ys)} labelled): {m}")
        timing["student experiments"] = time.perf_counter() - t
        expected["student"]["experiments"] = {
            "recipe": STUDENT_TRAIN, "alpha": KD_ALPHA, "temperature": KD_T,
            "labelled_5pct": f"train[i] for i % {LABELLED_EVERY} == 0 "
                             f"({sum(y != -100 for y in few)} rows); the rest label -100",
            "eval": {k: {kk: vv for kk, vv in v.items() if kk != "seconds"} for k, v in runs.items()},
        }
        print("\n[demo] student after 2 epochs (eval split)   acc    macro-F1")
        for k, v in runs.items():
            print(f"  {k:10s}{'':30s}{v['accuracy']:.4f}  {v['macro_f1']:.4f}   ({v['seconds']} s)")

    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump(expected, f, indent=2)
        f.write("\n")

    total = 0
    for root, _, names in os.walk(OUT):
        for n in sorted(names):
            size = os.path.getsize(os.path.join(root, n))
            total += size
            print(f"  {os.path.relpath(os.path.join(root, n), OUT):28s} {size:>9d}")
    print(f"[demo] models/demo total {total} bytes")
    assert total < SIZE_LIMIT, f"models/demo is {total} bytes (> {SIZE_LIMIT})"
    timing["total"] = time.perf_counter() - t0
    print("[demo] timing: " + ", ".join(f"{k} {v:.1f} s" for k, v in timing.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
