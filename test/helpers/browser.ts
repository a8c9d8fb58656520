/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser), for the tests and scripts that
 * train in the page. WebGPU runs on SwiftShader, the CPU Vulkan driver in Chromium's own folder.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { type BrowserContext, type Page, chromium } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function noBrowserReason(): string | null {
  return fs.existsSync(CHROMIUM) ? null : `no ${CHROMIUM} (apt-get install -y chromium; .ci/run does)`;
}

const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** A fresh browser profile; WebGPU (SwiftShader) on when asked. */
export async function launchChromium(webgpu: boolean): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'distill-chromium-'));
  const args = webgpu ? [...FLAGS, '--enable-unsafe-webgpu', '--enable-features=Vulkan'] : FLAGS;
  const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, args, headless: true });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** What the page exposes as window.__distill (src/web/page/main.ts). */
export interface PageRun {
  status: 'idle' | 'loading' | 'running' | 'done' | 'error';
  ep: string;
  /** Where the folder was read from (the source's description). */
  source: string;
  device: string;
  losses: number[];
  stepMs: number[];
  resumedFrom: number | null;
  accuracy: { step: number; accuracy: number }[];
  stepsPerSecond: number;
  finalAccuracy: number | null;
  error: string | null;
  seconds: number;
  timings: Record<string, number>;
}

/** Opens `url` (a page URL with autorun=1) and waits for the run to end; returns its state. */
export async function runPage(context: BrowserContext, url: string, timeoutMs: number): Promise<{ run: PageRun; page: Page }> {
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForFunction(() => ['done', 'error'].includes((globalThis as unknown as { __distill?: PageRun }).__distill?.status ?? ''), null, { timeout: timeoutMs, polling: 250 });
  const run = await page.evaluate(() => (globalThis as unknown as { __distill: PageRun }).__distill);
  return { run, page };
}

/**
 * A page init script (context.addInitScript) that breaks the WebGPU device once the page has logged
 * `after` losses, at its next queue submit: 'error' makes an invalid buffer (a validation error), 'lost'
 * destroys the device. What a driver bug or a GPU reset does mid-run, made on demand.
 */
export function injectGpuFault(arg: { fault: 'error' | 'lost'; after: number }): void {
  const g = globalThis as unknown as { __distill?: { losses?: number[] }; __injected?: boolean; GPUAdapter: { prototype: { requestDevice(...a: unknown[]): Promise<unknown> } } };
  const requestDevice = g.GPUAdapter.prototype.requestDevice;
  g.GPUAdapter.prototype.requestDevice = async function (this: unknown, ...a: unknown[]) {
    const device = (await requestDevice.apply(this, a)) as { queue: { submit(c: unknown): void }; destroy(): void; createBuffer(d: object): unknown };
    const submit = device.queue.submit.bind(device.queue);
    device.queue.submit = (commands: unknown) => {
      if (!g.__injected && (g.__distill?.losses?.length ?? 0) >= arg.after) {
        g.__injected = true;
        if (arg.fault === 'lost') device.destroy();
        else device.createBuffer({ size: 4, usage: 0 });
      }
      submit(commands);
    };
    return device;
  };
}
