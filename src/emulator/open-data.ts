import { encryptOpenData, rawDataSignature } from '../crypto/index.js';
import { epochSeconds } from '../lib/index.js';
import { expectObject, invalid } from './input.js';
import type { UserRecord } from './state.js';
import type { EncryptedPayload, EncryptKind } from './types.js';

const KINDS: readonly EncryptKind[] = ['phone', 'userInfo', 'raw'];
const PROFILE_FIELDS = [
  'nickName',
  'gender',
  'language',
  'city',
  'province',
  'country',
  'avatarUrl',
] as const;

/** What WeChat has handed out since 2022 for a user who has not chosen a profile. */
export const DEFAULT_PROFILE = {
  nickName: '微信用户',
  gender: 0,
  language: 'zh_CN',
  city: '',
  province: '',
  country: '',
  avatarUrl:
    'https://thirdwx.qlogo.cn/mmopen/vi_32/POgEwh4mIHO4nibH0KlMECNjjGxQUq24ZEaGT4poC6icRiccVGKSyXwibcPq4BWmiaIGuG1icwxaQX6grC9VemZoJ8rg/132',
};

export function parseEncryptKind(value: unknown): EncryptKind {
  if (typeof value !== 'string' || !(KINDS as readonly string[]).includes(value)) {
    throw invalid(`kind must be one of ${KINDS.join(', ')}.`);
  }
  return value as EncryptKind;
}

/**
 * Open data as the phone hands it to the page, under the user's current session_key. `data` overrides
 * generated fields, so a test can forge a foreign watermark or another user's openId.
 */
export function encryptForUser(
  user: UserRecord,
  kind: EncryptKind,
  data: object | undefined,
  context: { appid: string; nowMs: number },
): EncryptedPayload {
  const overrides = data === undefined ? {} : expectObject(data, 'data');
  const watermark = { timestamp: epochSeconds(context.nowMs), appid: context.appid };
  const base: Record<string, unknown> =
    kind === 'phone'
      ? {
          phoneNumber: displayedPhoneNumber(user),
          purePhoneNumber: user.phoneNumber,
          countryCode: user.countryCode,
        }
      : kind === 'userInfo'
        ? {
            openId: user.openid,
            ...DEFAULT_PROFILE,
            ...(user.unionid === undefined ? {} : { unionId: user.unionid }),
          }
        : {};
  // WeChat puts the watermark last.
  const { watermark: forcedWatermark, ...fields } = { ...base, ...overrides };
  const payload: Record<string, unknown> = { ...fields, watermark: forcedWatermark ?? watermark };
  const encrypted = encryptOpenData(user.sessionKey, payload);
  if (kind !== 'userInfo') return encrypted;
  const rawData = JSON.stringify(Object.fromEntries(PROFILE_FIELDS.map((field) => [field, payload[field]])));
  return { ...encrypted, rawData, signature: rawDataSignature(rawData, user.sessionKey) };
}

/** WeChat's phoneNumber carries the country code only outside mainland China. */
export function displayedPhoneNumber(user: Pick<UserRecord, 'phoneNumber' | 'countryCode'>): string {
  return user.countryCode === '86' ? user.phoneNumber : `+${user.countryCode}${user.phoneNumber}`;
}
