/**
 * Wraps an async operation so that calls made while one is in flight share its promise instead of
 * starting another: twenty requests that find the access token expired cause one refresh.
 * Once it settles (either way), the next call starts a new one.
 */
export function singleFlight<T>(operation: () => Promise<T>): () => Promise<T> {
  let inFlight: Promise<T> | undefined;
  return () => {
    if (inFlight === undefined) {
      const started = Promise.resolve()
        .then(operation)
        .finally(() => {
          if (inFlight === started) inFlight = undefined;
        });
      inFlight = started;
    }
    return inFlight;
  };
}
