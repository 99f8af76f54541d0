/** An error body of WeChat's server API, before its `, rid: …` suffix. */
export interface WechatFailure {
  errcode: number;
  errmsg: string;
}

/** WeChat's errcodes and errmsgs for what the emulator refuses. */
export const WECHAT_ERRORS = {
  busy: { errcode: -1, errmsg: 'system error' },
  invalidCredential: { errcode: 40001, errmsg: 'invalid credential, access_token is invalid or not latest' },
  invalidGrantType: { errcode: 40002, errmsg: 'invalid grant_type' },
  invalidOpenid: { errcode: 40003, errmsg: 'invalid openid' },
  invalidAppid: { errcode: 40013, errmsg: 'invalid appid' },
  invalidAccessToken: { errcode: 40014, errmsg: 'invalid access_token' },
  invalidCode: { errcode: 40029, errmsg: 'invalid code' },
  invalidArgs: { errcode: 40097, errmsg: 'invalid args' },
  invalidSecret: { errcode: 40125, errmsg: 'invalid appsecret' },
  codeUsed: { errcode: 40163, errmsg: 'code been used' },
  appidMissing: { errcode: 41002, errmsg: 'appid missing' },
  secretMissing: { errcode: 41004, errmsg: 'appsecret missing' },
  codeMissing: { errcode: 41008, errmsg: 'missing code' },
  accessTokenExpired: { errcode: 42001, errmsg: 'access_token expired' },
  requireGet: { errcode: 43001, errmsg: 'require GET method' },
  requirePost: { errcode: 43002, errmsg: 'require POST method' },
  dataFormat: { errcode: 47001, errmsg: 'data format error' },
  invalidScene: { errcode: 40169, errmsg: 'invalid length for scene, or the data is not json string' },
  invalidPage: { errcode: 41030, errmsg: 'invalid page hint' },
  apiQuota: { errcode: 45009, errmsg: 'reach max api daily quota limit' },
  apiUnauthorized: { errcode: 48001, errmsg: 'api unauthorized' },
  notFound: { errcode: -1, errmsg: 'no such api in the emulator' },
  invalidSignature: { errcode: 87009, errmsg: 'invalid signature' },
} as const satisfies Record<string, WechatFailure>;

export function isFailure(value: object): value is WechatFailure {
  return 'errcode' in value && value.errcode !== 0;
}

/** The errmsg for an errcode the emulator knows, for faults armed without one. */
export function errmsgFor(errcode: number): string {
  return (
    Object.values(WECHAT_ERRORS).find((known) => known.errcode === errcode)?.errmsg ??
    `emulated errcode ${errcode}`
  );
}

/** WeChat ends every error's errmsg with the request id; success bodies ('ok') carry none. */
export function withRid(body: object, rid: string): object {
  if (!isFailure(body) || /, rid: /.test(body.errmsg)) return body;
  return { ...body, errmsg: `${body.errmsg}, rid: ${rid}` };
}
