/**
 * Every target the bench checks, in one table, and the figures measured before the work that set a
 * target, so that each run prints before and after. Rows name their target by key (report.ts).
 */

/** Measured on this bench with the service as it was before issue 15 (commit 6739e72), same machine. */
export const BEFORE = {
  date: 'TODO',
  /** Server CPU per answered request, µs. */
  meCpuUs: Number.NaN,
  healthzCpuUs: Number.NaN,
  bareKoaCpuUs: Number.NaN,
  ticketCpuUs: Number.NaN,
  loginCpuUs: Number.NaN,
  refreshCpuUs: Number.NaN,
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
  loginCpuUs: {
    text: `≤ ${BEFORE.loginCpuUs / 2} µs (½ before)`,
    met: (v) => v <= BEFORE.loginCpuUs / 2,
  },
  refreshCpuUs: {
    text: `≤ ${BEFORE.refreshCpuUs / 2} µs (½ before)`,
    met: (v) => v <= BEFORE.refreshCpuUs / 2,
  },
  redisLogin: { text: '1 round trip', met: (v) => v <= 1 },
  redisRefresh: { text: '1 round trip', met: (v) => v <= 1 },
  redisMe: { text: '0 round trips', met: (v) => v <= 0 },
  redisDecrypt: { text: '1 round trip', met: (v) => v <= 1 },
  userRecordBytes: { text: '≤ 200', met: (v) => v <= 200 },
  sessionBytes: { text: '≤ 250', met: (v) => v <= 250 },
} satisfies Record<string, Target>;

export type TargetName = keyof typeof TARGETS;
