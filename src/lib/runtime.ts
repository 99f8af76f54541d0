import { setFlagsFromString } from 'node:v8';

/**
 * V8 settings for a process that serves requests: the entry point applies them before it serves.
 *
 * Allocation-site pretenuring off. V8 counts how many objects from each allocation site survive
 * young-generation collections and, past a threshold, allocates that site's later objects straight
 * into the old generation. A burst of concurrent slow requests (200 logins at once, each waiting on
 * WeChat and Redis) keeps Node's per-request objects alive across young collections long enough to
 * cross it, and the decision then stays for the life of the process: every later request's objects,
 * dead a millisecond after they are made, fill the old generation, which only a full collection
 * empties. Seen with `npm run bench`, which logs its 200 users in at once: afterwards `GET /auth/me`
 * cost 25 µs of CPU instead of 17, a quarter of it in the collector, and its p99 went from 1.6 ms to
 * 7 ms. Without pretenuring, an object that does live long (a cache entry) still reaches the old
 * generation, by surviving young collections, as every object of a site V8 has not pretenured does.
 *
 * Set at run time rather than on node's command line so that every way of starting the server has it
 * (npm start, node dist/server.js, the workers, a container's own command). Node warns that changing
 * V8 flags after start-up may behave unpredictably, and V8's flags are not a stable interface: this
 * one is read when a collection decides about pretenuring, which the figures above show it does in
 * Node 20; should a later V8 drop it, V8 prints "unrecognized flag" once and the server runs as before.
 * `node --no-allocation-site-pretenuring dist/server.js` sets the same thing from the start.
 */
export function tuneRuntime(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
}
