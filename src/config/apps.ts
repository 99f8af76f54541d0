/**
 * The WeChat apps one deployment serves (WECHAT_APPS_FILE, or WECHAT_APPID/WECHAT_SECRET as one
 * mini-program). An identity is an (appid, openid) pair; apps bound to one open-platform account give
 * the same person the same unionid, which is how wxauth links them into one person.
 */

/** How an app's people log in, and so which WeChat exchange its codes take. */
export type AppKind = 'miniprogram' | 'mobile' | 'official_account' | 'website';

export const APP_KINDS: readonly AppKind[] = ['miniprogram', 'mobile', 'official_account', 'website'];

/** Claims an app may ask to have put into its access tokens beside the openid. */
export type AppClaim = 'unionid';

export interface WechatApp {
  readonly appid: string;
  readonly kind: AppKind;
  /** Never logged, never answered. */
  readonly secret: string;
  /** What a person sees (the list of sessions, the confirm screen); default the appid. */
  readonly name: string;
  /** `aud` of this app's access tokens (the first is written when it is one, else the list). */
  readonly audience: readonly string[];
  readonly claims: readonly AppClaim[];
  /** official_account and website only: the exact URIs a browser login may return to. */
  readonly redirectUris: readonly string[];
}
