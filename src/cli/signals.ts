/**
 * Stopping a training run by signal. SIGINT (Ctrl-C) and SIGTERM (what schedulers and `docker stop` send)
 * both ask for a checkpoint and a clean stop; SIGHUP (the terminal closed) too. A second signal of any of
 * them quits at once: the first one removes our handlers, so the second meets the default action in the
 * kernel and ends the process even while JavaScript is busy (saving, or inside a long synchronous step).
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/** Calls `onFirst` on the first stop signal; returns `off` to remove the handlers when the run ends. */
export function stopGracefully(onFirst: () => void): { off: () => void } {
  const off = () => {
    for (const sig of STOP_SIGNALS) process.off(sig, handler);
  };
  const handler = () => {
    off();
    onFirst();
  };
  for (const sig of STOP_SIGNALS) process.on(sig, handler);
  return { off };
}
