import { expect } from 'vitest';
import { AppError } from '../../src/core/errors.js';

/** Awaits a promise that must reject with an AppError, and returns that error. */
export async function failure(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AppError);
  return err as AppError;
}
