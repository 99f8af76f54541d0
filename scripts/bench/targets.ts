/**
 * Every target the bench checks, in one table, and the figures measured before the work that set a
 * target, so that each run prints before and after. Rows name their target by key (report.ts).
 */

/**
 * The service before issue 15 (a build of commit 6739e72, ES256 keys), measured with `--compare` in
 * the same rounds as the service of that day, on this two-core VM (the anchors in the same rounds).
 * Server CPU per answered request, µs.
 */
export const BEFORE = {
  date: '2026-12-02',
  meCpuUs: 256.4,
  bareKoaCpuUs: 97.2,
  ticketCpuUs: 120.5,
  loginCpuUs: 1833.8,
  refreshCpuUs: 689.7,
};

export interface Target {
  /** As the target column prints it. */
  text: string;
  met(value: number): boolean;
}

export const TARGETS = {
  meThroughputOfHealthz: { text: '≥ 90%', met: (v) => v >= 0.9 },
  meP99OverHealthz: { text: '≤ 1.2×', met: (v) => v <= 1.2 },
  bareKoaOverMe: { text: '≥ 0.75', met: (v) => v >= 0.75 },
  meOverTicket: { text: '≤ 0.7×', met: (v) => v <= 0.7 },
  verifyOverTicket: { text: '≤ 0.7×', met: (v) => v <= 0.7 },
  verifyOverMe: { text: '≤ 1×', met: (v) => v <= 1 },
  /** CPU per request ÷ before's: the compared build's in the same rounds when given, else BEFORE's. */
  loginOverBefore: { text: '≤ 0.5× before', met: (v) => v <= 0.5 },
  refreshOverBefore: { text: '≤ 0.5× before', met: (v) => v <= 0.5 },
  redisLogin: { text: '1 round trip', met: (v) => v <= 1 },
  redisRefresh: { text: '1 round trip', met: (v) => v <= 1 },
  redisMe: { text: '0 round trips', met: (v) => v <= 0 },
  redisDecrypt: { text: '1 round trip', met: (v) => v <= 1 },
  userRecordBytes: { text: '≤ 200', met: (v) => v <= 200 },
  sessionBytes: { text: '≤ 250', met: (v) => v <= 250 },
} satisfies Record<string, Target>;

export type TargetName = keyof typeof TARGETS;
