/** Assertions that a bad input fails with our one-line InputError, and with exactly the expected message. */
import assert from 'node:assert/strict';
import { InputError } from '../../src/errors.js';

const isInputError = (message: string) => (e: unknown) => {
  assert.ok(e instanceof InputError, `expected an InputError, got ${String(e)}`);
  assert.equal(e.message, message);
  return true;
};

export function throwsWith(fn: () => unknown, message: string): void {
  assert.throws(fn, isInputError(message));
}

export async function rejectsWith(p: Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(p, isInputError(message));
}
