#!/usr/bin/env bash
# The device side of scripts/gpu/webgpu-check.mjs, run from the repository root on a GPU machine with no
# Node.js: .device/pack.tar.xz holds a node binary, the compiled library (build/ = a committed HEAD,
# build-wip/ = an uncommitted working tree, optional), a pruned node_modules (onnxruntime-node linux/x64 only)
# and the script; models/ comes from the repository copy. The Vulkan loader (.gl/*.deb) must already be
# unpacked into / (see the device README). Everything is logged to $OUT/log.txt (or ./webgpu-check.log).
#
#   bash scripts/gpu/device-run.sh
set -u
LOG=${OUT:-.}/log.txt
main() {
ICD=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
EGL=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$ICD" ] && export VK_DRIVER_FILES=$ICD
[ -f "$EGL" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$EGL
export XDG_RUNTIME_DIR=/tmp DISTILL_MODELS=$PWD/models
echo "== machine"; date -u; uname -r; nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== vulkan"; ldconfig -p | grep -i vulkan; ls /usr/local/nvidia/share/vulkan/icd.d/ /usr/share/vulkan/icd.d/ /etc/vulkan/icd.d/ 2>&1; echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-unset}"
echo "== unpack"; mkdir -p /tmp/p
t0=$(date +%s)
tar -xJf .device/pack.tar.xz -C /tmp/p || python3 -c "import tarfile; tarfile.open('.device/pack.tar.xz').extractall('/tmp/p')" || { echo "unpack failed"; exit 1; }
echo "unpacked in $(( $(date +%s) - t0 )) s"; ls /tmp/p; cat /tmp/p/build*/BUILD_INFO; ldd /tmp/p/node | grep "not found"
N=/tmp/p/node
# the scripts travel with the working tree: the copies in the repository win over the packed ones
mkdir -p /tmp/p/scripts/gpu && cp scripts/gpu/*.mjs /tmp/p/scripts/gpu/
echo "== webgpu smoke test (Vulkan loader driver log, filtered)"
VK_LOADER_DEBUG=driver timeout -k 5 ${SMOKE_TIMEOUT:-45} $N -e "
const ort = require('/tmp/p/node_modules/onnxruntime-node');
console.log('backends', JSON.stringify(ort.listSupportedBackends()));
ort.InferenceSession.create('models/bert-student/model.onnx', { executionProviders: ['webgpu'] })
  .then(() => console.log('SMOKE webgpu session created'), (e) => console.log('SMOKE webgpu session failed: ' + e.message));
" 2>&1 | grep -iE "SMOKE|backends|Found ICD|Searching for ICD|physical_devices|\] [^ ]|error|warn" | awk '!seen[$0]++' | head -40
echo "== small bench student (python, for the larger timing)"
timeout -k 5 ${PY_TIMEOUT:-60} python3 scripts/gpu/make_small_student.py /tmp/sm 2>&1 | tail -3 || echo "make_small_student failed"
echo "== webgpu-check, build = HEAD"
timeout -k 5 ${MAIN_TIMEOUT:-170} $N /tmp/p/scripts/gpu/webgpu-check.mjs --eps ${EPS:-cpu,webgpu,cpu:low-memory,webgpu:low-memory} --placement --small /tmp/sm/small/student --budget-s ${BUDGET_S:-110}
echo "exit $?"
echo "== ScatterND / ScatterElements reduction=add, exact sums (cpu: all cores; webgpu)"
python3 scripts/gpu/scatter_models.py /tmp/scat && timeout -k 5 60 $N /tmp/p/scripts/gpu/scatter-check.mjs /tmp/scat cpu,webgpu
echo "== CUDA provider: onnxruntime-node's is not installed (NuGet is out of reach); is one on this machine?"
timeout 20 python3 -c "import onnxruntime as o; print('python onnxruntime', o.__version__, o.get_available_providers())"
CUDA_LIB=$(timeout 30 find /opt /usr /usr/local -name 'libonnxruntime_providers_cuda.so' 2>/dev/null | head -1)
if [ -n "$CUDA_LIB" ]; then
  echo "found $CUDA_LIB; trying it under onnxruntime-node (needs the same ORT version)"
  BIN=/tmp/p/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
  cp "$CUDA_LIB" "$(dirname "$CUDA_LIB")/libonnxruntime_providers_shared.so" $BIN/
  export LD_LIBRARY_PATH=$(find / -xdev -path '*nvidia*' -name 'lib' -type d 2>/dev/null | tr '\n' ':')${LD_LIBRARY_PATH:-}
  timeout -k 5 ${CUDA_TIMEOUT:-60} $N /tmp/p/scripts/gpu/webgpu-check.mjs --eps cpu,cuda --no-timing
  echo "exit $?"
else
  echo "no libonnxruntime_providers_cuda.so: the CUDA EP cannot be checked here"
fi
if [ -d /tmp/p/build-wip ]; then
  echo "== webgpu-check parity, build = working tree (build-wip)"
  DISTILL_BUILD=/tmp/p/build-wip timeout -k 5 ${WIP_TIMEOUT:-45} $N /tmp/p/scripts/gpu/webgpu-check.mjs --no-timing
  echo "exit $?"
fi
echo "== done $(date -u)"
}
main 2>&1 | tee "$LOG"
