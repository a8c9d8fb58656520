#!/usr/bin/env python3
"""The PyTorch side of scripts/bench/bench.mjs: the seed's distillation step in PyTorch on the same models
and batch shapes.

  python scripts/bench/bench_torch.py --config small|base --batch B --seq S --steps N [--threads 2]
      [--compile] [--warmup W] [--epochs 3] [--batches-per-epoch E] [--attn sdpa|eager] [--matmul]

Models: .bench/<config>/{teacher,student}/hf (scripts/bench/make_bench_models.py), the identical weights
of the ONNX files onnx-distill trains.  Teacher in eval() under no_grad; student in train() with
dropout probabilities set to 0 (parity with the eval-mode ONNX export, which has no Dropout).

Loss: the seed's DistillationTrainer.compute_loss (NLP with Transformers, ch. 8), alpha 0.5, T 2:
    loss = alpha * outputs_stu.loss + (1 - alpha) * T^2 * KLDivLoss(batchmean)(
               log_softmax(logits_stu / T), softmax(logits_tea / T))
Optimizer: torch.optim.AdamW(lr 5e-5, weight_decay 0.01, torch defaults otherwise), and
clip_grad_norm_(1.0) before each step; every parameter decays (as onnx-distill's AdamW).

Batches: B x S token ids from a 32-bit LCG shared with bench.mjs (same ids and labels on both
sides), attention mask all ones, labels 0/1.  The dataset is E batches; step k uses batch k mod E.

Measures (one JSON line on stdout):
  step_ms_median / samples_per_s_step   one optimizer step (teacher forward + student forward,
                                        backward, clip, AdamW), median over N steps after W warm-up
  teacher_ms_median                     the teacher forward inside that step
  e2e_seconds / e2e_samples_per_s       `epochs` epochs over the E batches, the teacher run at every
                                        step of every epoch (the seed trainer has no logit cache)
  compile_s                             --compile: first step(s) minus the median step
  peak_rss_bytes                        resource.getrusage(RUSAGE_SELF).ru_maxrss
  matmul_gflops                         --matmul: torch.mm 1024^3 and 2048^3 GFLOP/s
  loss0                                 the loss terms of step 0 (parity check with onnx-distill)
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BENCH = os.path.join(REPO, ".bench")
ALPHA, T = 0.5, 2.0
LR, WD, MAX_NORM = 5e-5, 0.01, 1.0


class Lcg:
    """x <- 1664525 x + 1013904223 (mod 2^32); bench.mjs has the same generator."""

    def __init__(self, seed: int):
        self.x = seed & 0xFFFFFFFF

    def next(self) -> int:
        self.x = (1664525 * self.x + 1013904223) & 0xFFFFFFFF
        return self.x


def make_batches(n: int, batch: int, seq: int, vocab: int, seed: int = 1234):
    """n batches: ids in [1, vocab), attention all ones, labels = bit 16 of the next draw."""
    out = []
    for k in range(n):
        g = Lcg(seed + k)
        ids = [1 + g.next() % (vocab - 1) for _ in range(batch * seq)]
        labels = [(g.next() >> 16) & 1 for _ in range(batch)]
        out.append({
            "input_ids": torch.tensor(ids, dtype=torch.int64).view(batch, seq),
            "attention_mask": torch.ones(batch, seq, dtype=torch.int64),
            "labels": torch.tensor(labels, dtype=torch.int64),
        })
    return out


def load(config: str, role: str, attn: str):
    from transformers import AutoModelForSequenceClassification

    path = os.path.join(BENCH, config, role, "hf")
    if not os.path.isdir(path):
        raise SystemExit(f"{path}: missing; run python scripts/bench/make_bench_models.py {config}")
    return AutoModelForSequenceClassification.from_pretrained(
        path, attn_implementation=attn, dtype=torch.float32,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


class DistillationStep:
    """compute_loss of the seed's DistillationTrainer + backward, clipping and AdamW."""

    def __init__(self, student, teacher):
        self.student, self.teacher = student, teacher
        self.params = [p for p in student.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=LR, weight_decay=WD)
        self.loss_fct = nn.KLDivLoss(reduction="batchmean")
        self.teacher_s = 0.0

    def compute_loss(self, model, inputs):
        outputs_stu = model(**inputs)
        loss_ce = outputs_stu.loss
        logits_stu = outputs_stu.logits
        sync = torch.cuda.synchronize if logits_stu.is_cuda else (lambda: None)
        sync()
        t0 = time.perf_counter()
        with torch.no_grad():
            outputs_tea = self.teacher(**inputs)
            logits_tea = outputs_tea.logits
        sync()
        self.teacher_s = time.perf_counter() - t0
        loss_kd = T ** 2 * self.loss_fct(F.log_softmax(logits_stu / T, dim=-1), F.softmax(logits_tea / T, dim=-1))
        loss = ALPHA * loss_ce + (1.0 - ALPHA) * loss_kd
        return loss, loss_ce, loss_kd

    def __call__(self, inputs):
        loss, ce, kd = self.compute_loss(self.student, inputs)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, MAX_NORM)
        self.opt.step()
        return float(loss.detach()), float(ce.detach()), float(kd.detach())


def matmul_gflops(sizes=(1024, 2048), reps=5):
    out = {}
    for n in sizes:
        a, b = torch.randn(n, n), torch.randn(n, n)
        for _ in range(2):
            torch.mm(a, b)
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            torch.mm(a, b)
            ts.append(time.perf_counter() - t0)
        out[str(n)] = round(2 * n ** 3 / statistics.median(ts) / 1e9, 1)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", default="small", choices=("small", "base"))
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10, help="measured steps (median)")
    ap.add_argument("--warmup", type=int, default=2, help="steps before measuring")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="torch device (cuda: the step on a GPU, timed with synchronize)")
    ap.add_argument("--compile", action="store_true", help="torch.compile the student")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batches-per-epoch", type=int, default=20)
    ap.add_argument("--attn", default="sdpa", choices=("sdpa", "eager"),
                    help="HF attention implementation (default sdpa: what from_pretrained picks)")
    ap.add_argument("--matmul", action="store_true", help="also measure torch.mm GFLOP/s")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()

    dev = torch.device(args.device)
    teacher = load(args.config, "teacher", args.attn).to(dev).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    student = load(args.config, "student", args.attn).to(dev).train()
    batches = [{k: v.to(dev) for k, v in b.items()}
               for b in make_batches(args.batches_per_epoch, args.batch, args.seq, student.config.vocab_size)]
    result = {"framework": "torch.compile" if args.compile else "pytorch-eager", "torch": torch.__version__,
              "transformers": transformers.__version__, "config": args.config, "batch": args.batch,
              "seq": args.seq, "threads": args.threads, "attn": args.attn, "device": args.device}

    compile_s = None
    if args.compile:
        t0 = time.perf_counter()
        student_run = torch.compile(student)
        compile_s = time.perf_counter() - t0  # lazy: the real work happens in the first steps
    else:
        student_run = student
    step = DistillationStep(student_run, teacher)
    step.params = [p for p in student.parameters() if p.requires_grad]
    step.opt = torch.optim.AdamW(step.params, lr=LR, weight_decay=WD)

    # per-step: warm-up, then N measured steps
    times, teacher_times, first = [], [], []
    loss0 = None
    for k in range(args.warmup + args.steps):
        inputs = batches[k % len(batches)]
        t0 = time.perf_counter()
        loss = step(inputs)
        dt = time.perf_counter() - t0
        if loss0 is None:
            loss0 = {"loss": loss[0], "ce": loss[1], "kd": loss[2]}
        if k < args.warmup:
            first.append(dt)
        else:
            times.append(dt)
            teacher_times.append(step.teacher_s)
    med = statistics.median(times)
    result.update({
        "steps": args.steps, "warmup": args.warmup,
        "step_ms_median": round(med * 1e3, 2), "step_ms_min": round(min(times) * 1e3, 2),
        "teacher_ms_median": round(statistics.median(teacher_times) * 1e3, 2),
        "samples_per_s_step": round(args.batch / med, 3),
        "warmup_ms": [round(t * 1e3, 1) for t in first],
        "loss0": loss0,
    })
    if args.compile:
        result["compile_s"] = round(compile_s + sum(first) - med * len(first), 2)

    # end to end: epochs x E batches, the teacher at every step
    n = 0
    t0 = time.perf_counter()
    for _ in range(args.epochs):
        for inputs in batches:
            step(inputs)
            n += args.batch
    e2e = time.perf_counter() - t0
    result.update({"epochs": args.epochs, "batches_per_epoch": len(batches), "e2e_seconds": round(e2e, 3),
                   "e2e_samples_per_s": round(n / e2e, 3)})
    result["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if args.matmul:
        result["matmul_gflops"] = matmul_gflops()
    if args.compile:
        try:  # inductor's compile workers: stop them so their CPU time counts as this run's
            from torch._inductor import async_compile

            async_compile.shutdown_compile_workers()
        except Exception:  # pragma: no cover
            pass
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["cpu_s"] = round(own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime, 2)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
