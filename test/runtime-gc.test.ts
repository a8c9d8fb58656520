import assert from 'node:assert/strict';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { collectGarbage } from '../src/runtime/gc.js';

describe('collectGarbage', () => {
  it('collects an unreachable 64 MB buffer at once (a weak reference to it is cleared)', async () => {
    let ref: WeakRef<Float32Array> | undefined;
    (() => {
      ref = new WeakRef(new Float32Array(16 << 20).fill(1));
    })();
    // A weak target stays alive until the job that created it ends.
    await nextTurn();
    collectGarbage();
    assert.equal(ref!.deref(), undefined);
  });
});
