// Timing shared by the bench scripts: an ORT session run repeatedly, the first runs discarded (they
// allocate ORT's arena and fault in pages), the median of the rest.

/** Median milliseconds of `session.run(feeds)` over `runs` runs after `warmup` untimed ones. */
export async function medianRunMs(session, feeds, { runs, warmup }) {
  const times = [];
  for (let r = 0; r < warmup + runs; r++) {
    const t0 = performance.now();
    await session.run(feeds);
    if (r >= warmup) times.push(performance.now() - t0);
  }
  times.sort((x, y) => x - y);
  return times[times.length >> 1];
}
