#!/usr/bin/env python3
"""Only the 'small' student of scripts/make_bench_models.py (2 layers / hidden 128 / 2 heads / ffn 512,
vocab 30522), written to OUT/small/student/model.onnx, for timing webgpu-check.mjs on a larger model
where carrying the 17 MB ONNX file is too much.

  python3 scripts/gpu/make_small_student.py OUT
"""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import make_bench_models as mbm  # noqa: E402

if __name__ == "__main__":
    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.perf_counter()
    mbm.BENCH = os.path.abspath(sys.argv[1])
    mbm.make_role("small", "student", mbm.CONFIGS["small"]["student"])
    print(f"[make_small_student] {os.path.join(mbm.BENCH, 'small', 'student')} in {time.perf_counter() - t0:.1f} s")
