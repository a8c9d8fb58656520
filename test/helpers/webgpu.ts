/**
 * WebGPU for the tests: a Vulkan driver for onnxruntime-node's WebGPU provider, found before any process
 * opens the provider (the Vulkan loader reads its environment once). A machine's own GPU driver if it has one,
 * else SwiftShader, the CPU Vulkan driver in Debian's chromium package (docs/WEBGPU.md); without either the
 * WebGPU tests skip with the reason.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** Where Debian's chromium keeps SwiftShader's Vulkan driver and the Vulkan loader it ships. */
const CHROMIUM_LIB = '/usr/lib/chromium';
const SYSTEM_ICDS = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d'];

export interface WebGpuEnv {
  /** Environment for a child process that opens the WebGPU provider, or null when no driver exists. */
  env: NodeJS.ProcessEnv | null;
  /** Which driver, or why none. */
  driver: string;
}

export function webgpuEnv(): WebGpuEnv {
  if (process.env.VK_DRIVER_FILES || process.env.VK_ICD_FILENAMES) return { env: { ...process.env }, driver: `VK_DRIVER_FILES=${process.env.VK_DRIVER_FILES ?? process.env.VK_ICD_FILENAMES}` };
  const swiftshader = path.join(CHROMIUM_LIB, 'vk_swiftshader_icd.json');
  if (fs.existsSync(swiftshader)) {
    const ld = [CHROMIUM_LIB, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':');
    return { env: { ...process.env, VK_DRIVER_FILES: swiftshader, LD_LIBRARY_PATH: ld }, driver: 'SwiftShader (Debian chromium)' };
  }
  const system = SYSTEM_ICDS.filter((d) => fs.existsSync(d) && fs.readdirSync(d).some((f) => f.endsWith('.json')));
  if (system.length) return { env: { ...process.env }, driver: `the system's Vulkan drivers (${system.join(', ')})` };
  return { env: null, driver: "no Vulkan driver on this machine (install Debian's chromium for SwiftShader: apt-get install -y chromium)" };
}

/** Runs `node <script> ...args` under the WebGPU environment; stdout, stderr and the exit status. */
export function runWithWebGpu(env: NodeJS.ProcessEnv, script: string, args: readonly string[], timeoutMs: number): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', env, timeout: timeoutMs, maxBuffer: 1 << 28 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: `${r.stderr ?? ''}${r.error ? `\n${r.error.message}` : ''}` };
}
