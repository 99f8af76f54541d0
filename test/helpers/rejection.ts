import { expect } from 'chai';

/** The error `promise` rejects with, checked to be a `type`; fails the test when it resolves. */
export async function rejectionOf<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(type);
    return error as E;
  }
  throw new Error('expected a rejection');
}
