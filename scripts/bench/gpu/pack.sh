#!/usr/bin/env bash
# Packs what scripts/bench/gpu/device-run.sh needs on a GPU machine that has no Node.js into .device/pack.tar.xz:
# this machine's node binary, the compiled build (src and the test helpers step-bench.mjs imports),
# package.json and the runtime node_modules: no compiler, no type declarations, no SpamAssassin corpus
# (the demo's), and onnxruntime-node's binaries for linux/x64 only. The device tool carries at most 64 MiB;
# this comes to about 37 MB, so the repository copy that travels with it must stay under ~27 MB (device-run.sh).
#
#   npm run build && bash scripts/bench/gpu/pack.sh          # then: run with carry [".device", ".gl"]
set -euo pipefail
cd "$(dirname "$0")/../../.."
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$(command -v node)" "$stage/node"
cp package.json "$stage/"
mkdir -p "$stage/dist/test"
cp -r dist/src "$stage/dist/"
cp -r dist/test/helpers "$stage/dist/test/"
# Runtime dependencies only: no compiler, no type declarations, no other platforms' ORT binaries.
tar -C . -cf - --exclude='node_modules/typescript' --exclude='node_modules/@types' --exclude='node_modules/@stdlib' \
  --exclude='node_modules/@huggingface/transformers' --exclude='node_modules/onnxruntime-web' --exclude='node_modules/@img' --exclude='node_modules/sharp' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/darwin' --exclude='node_modules/onnxruntime-node/bin/napi-v6/win32' \
  --exclude='node_modules/onnxruntime-node/bin/napi-v6/linux/arm64' node_modules | tar -C "$stage" -xf -
git rev-parse --short HEAD > "$stage/dist/BUILD_INFO"
git diff --quiet HEAD -- src test || echo "with uncommitted changes" >> "$stage/dist/BUILD_INFO"
mkdir -p .device
tar -C "$stage" -cf - . | xz -T0 -6 > .device/pack.tar.xz
ls -l .device/pack.tar.xz
