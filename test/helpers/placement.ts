/**
 * Where ONNX Runtime put each node of a session, read from its verbose log (session option
 * logSeverityLevel 0): the nodes each provider got, and the values it copies between host and device.
 * test/webgpu.test.ts asserts on it; scripts/bench/gpu/step-bench.mjs prints it.
 */

export interface PlacedNode {
  op: string;
  name: string;
}

export interface PlacementReport {
  /** Nodes in the session (after ORT's graph optimizations). */
  total: number;
  /** Nodes placed on the CPU provider. */
  cpu: PlacedNode[];
  /** The CPU nodes of op types that compute on tensor data rather than shapes (COMPUTE_OPS). */
  cpuCompute: PlacedNode[];
  /** Values ORT copies from the device to the host inside the run (MemcpyToHost). */
  toHost: string[];
  /** Values ORT copies from the host to the device inside the run (MemcpyFromHost). */
  fromHost: string[];
}

/**
 * Op types that compute on float data: on the CPU under a GPU provider they mean activations crossing. Ops
 * that also serve int64 shape and index arithmetic (Add, Gather, Concat, Slice, Expand, Equal, Where, ...)
 * are not among them: ORT keeps those on the CPU on purpose, next to the host inputs they read (token ids,
 * masks, labels), and what they compute on float data shows up as a copy to the host (`toHost`) instead.
 */
export const COMPUTE_OPS = /^(MatMul|FusedMatMul|Gemm|Softmax|LogSoftmax|Sum|Scatter\w*|Reduce\w*|Pow|Sqrt|Exp|Log|Erf|Gelu|FastGelu|Tanh|Sigmoid|\w*LayerNormalization|Loop|Scan)$/;

export function placementReport(log: string): PlacementReport {
  const lines = log.split('\n');
  const byProvider = new Map<string, PlacedNode[]>();
  let total = 0;
  let current: string | null = null;
  for (const l of lines) {
    const all = /All nodes placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(l);
    if (all) {
      total += Number(all[2]);
      byProvider.set(all[1]!, []);
      current = null;
      continue;
    }
    const head = /Node\(s\) placed on \[(\w+)\]\. Number of nodes: (\d+)/.exec(l);
    if (head) {
      current = head[1]!;
      total += Number(head[2]);
      if (!byProvider.has(current)) byProvider.set(current, []);
      continue;
    }
    const node = /VerifyEachNodeIsAssignedToAnEp\]\s{3}(\S+) \((.*)\)\s*$/.exec(l);
    if (node && current) byProvider.get(current)!.push({ op: node[1]!, name: node[2]! });
    else if (!/VerifyEachNodeIsAssignedToAnEp/.test(l)) current = null;
  }
  const copies = (dir: string) => [...new Set(lines.map((l) => new RegExp(`Add ${dir} (?:before|after) (\\S+) for`).exec(l)?.[1]).filter((v): v is string => !!v))];
  const cpu = byProvider.get('CPUExecutionProvider') ?? [];
  return { total, cpu, cpuCompute: cpu.filter((n) => COMPUTE_OPS.test(n.op)), toHost: copies('MemcpyToHost'), fromHost: copies('MemcpyFromHost') };
}
