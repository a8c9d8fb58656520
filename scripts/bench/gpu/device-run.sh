#!/usr/bin/env bash
# The device side of the GPU check, run from the repository root on a lent GPU machine that has no Node.js:
# .device/pack.tar.xz (scripts/bench/gpu/pack.sh) holds a node binary, the compiled build and the runtime
# node_modules; .gl/ holds the Vulkan loader's Debian packages (the device README says how to fetch them).
# It makes the bench students with the machine's Python (scripts/bench/make_bench_models.py), then runs
# scripts/bench/gpu/step-bench.mjs (WebGPU parity, placement, CPU vs WebGPU per-step time) and the same KD step in
# PyTorch eager on CUDA (scripts/bench/bench_torch.py --device cuda). Everything goes to $OUT/log.txt.
#
#   npm run build && bash scripts/bench/gpu/pack.sh     # then, with the tool: run this with carry [".device", ".gl"]
#   env: STEP_BENCH_ARGS (default --parity --placement; '' for timing alone), SKIP_TORCH=1, BUDGET_S
#   The repository copy travels too: with models/user moved out of the tree it stays under the 64 MiB limit.
set -u
LOG=${OUT:-.}/log.txt
main() {
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  [ -f "$ICD" ] && export VK_DRIVER_FILES=$ICD
  export XDG_RUNTIME_DIR=/tmp DISTILL_MODELS=$PWD/models
  echo "== machine"; date -u; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader; nproc
  mkdir -p /tmp/p && tar -xJf .device/pack.tar.xz -C /tmp/p || { echo "unpack failed"; return 1; }
  cat /tmp/p/dist/BUILD_INFO
  mkdir -p /tmp/p/scripts/bench/gpu && cp scripts/bench/gpu/*.mjs /tmp/p/scripts/bench/gpu/
  echo "== bench students (python $(python3 -c 'import torch, transformers; print(torch.__version__, transformers.__version__)'))"
  timeout -k 5 "${MAKE_TIMEOUT:-200}" python3 scripts/bench/make_bench_models.py all 2>&1 | grep -v Warning | tail -6
  echo "== step-bench"
  # shellcheck disable=SC2086
  timeout -k 5 "${BENCH_TIMEOUT:-280}" /tmp/p/node /tmp/p/scripts/bench/gpu/step-bench.mjs ${STEP_BENCH_ARGS:---parity --placement} \
    --students small=.bench/small/student,base=.bench/base/student --budget-s "${BUDGET_S:-200}"
  echo "exit $?"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader
  echo "== PyTorch eager on CUDA, same KD step (teacher forward included; teacher_ms_median is its share)"
  [ -n "${SKIP_TORCH:-}" ] && return 0
  for c in small base; do timeout -k 5 60 python3 scripts/bench/bench_torch.py --config "$c" --device cuda --steps 20 --warmup 3 --epochs 0 2>&1 | tail -1; done
}
main 2>&1 | tee "$LOG"
