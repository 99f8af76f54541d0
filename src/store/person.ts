import type { AccountRecord, Identity, UserSessions } from './types.js';

/**
 * A person: the identities (one openid per app) WeChat gave one unionid, or a lone identity without
 * one. Person-wide operations read this first (the identity's record, then its person's list: two
 * round trips, the second only when the identity has a unionid), then act on each identity in its own
 * slot, in parallel.
 */
export interface Person {
  unionid: string | undefined;
  /** Never empty: the identity asked about is always one, linked yet or not. */
  identities: Identity[];
}

/**
 * The person of `openid`. The identity itself is counted even when its person's list does not hold it
 * yet (a link that failed, or a record from before persons existed), so nothing of it is missed.
 */
export async function personOf(
  store: Pick<UserSessions, 'getAccount' | 'personIdentities'>,
  openid: string,
): Promise<Person & { account: AccountRecord | null }> {
  const account = await store.getAccount(openid);
  const self: Identity = { openid, appid: account?.appid };
  const unionid = account?.unionid;
  if (unionid === undefined) return { unionid, identities: [self], account };
  const linked = await store.personIdentities(unionid);
  const others = linked.filter((identity) => identity.openid !== openid);
  return { unionid, identities: [self, ...others], account };
}

/** The person WeChat gave `unionid`, as its list holds it; null when the list is empty. */
export async function personByUnionid(
  store: Pick<UserSessions, 'personIdentities'>,
  unionid: string,
): Promise<Person | null> {
  const identities = await store.personIdentities(unionid);
  return identities.length === 0 ? null : { unionid, identities };
}
