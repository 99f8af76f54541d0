import { AuthError, DecryptFailedError, NetworkError, UserDeniedError } from '../../lib/wxauth/index';
import { auth } from '../../auth';

/** What examples/service answers at GET /api/orders. */
interface Order {
  id: number;
  item: string;
}

/** What to tell the user about a failure of the auth client. */
function explain(error: unknown): string {
  if (error instanceof UserDeniedError) return 'No problem: you can share it later.';
  if (error instanceof DecryptFailedError) return 'That did not go through, please tap the button again.';
  if (error instanceof NetworkError) return 'No connection: check your network and try again.';
  if (error instanceof AuthError && error.code === 'rate_limited') {
    return `Too many attempts, try again in ${error.retryAfter ?? 60} s.`;
  }
  if (error instanceof AuthError) return `Sign-in failed (${error.code}).`;
  return 'Something went wrong.';
}

Page({
  data: {
    ready: false,
    openid: '',
    phoneNumber: '',
    orders: [] as Order[],
    message: '',
  },

  async onLoad() {
    // Before the getPhoneNumber button shows: a fresh login if WeChat's session expired.
    try {
      const session = await auth.ensureSession();
      this.setData({ ready: true, openid: session.openid });
    } catch (error) {
      this.setData({ message: explain(error) });
    }
  },

  async onLogin() {
    try {
      const { openid, isNewUser } = await auth.login();
      this.setData({ ready: true, openid, message: isNewUser ? 'Welcome!' : '' });
    } catch (error) {
      this.setData({ message: explain(error) });
    }
  },

  async onGetPhoneNumber(e: WechatMiniprogram.ButtonGetPhoneNumber) {
    try {
      const { phoneNumber } = await auth.getPhoneNumber(e.detail);
      this.setData({ phoneNumber, message: '' });
    } catch (error) {
      this.setData({ message: explain(error) });
    }
  },

  async onLoadOrders() {
    try {
      // One line per request: the token is attached, refreshed, or a new login made, as needed.
      const response = await auth.request<{ orders: Order[] }>({ url: '/api/orders' });
      if (response.statusCode === 200) this.setData({ orders: response.data.orders, message: '' });
      else this.setData({ message: `The server answered ${response.statusCode}.` });
    } catch (error) {
      this.setData({ message: explain(error) });
    }
  },

  async onLogout() {
    try {
      await auth.logout();
    } finally {
      this.setData({ ready: false, openid: '', phoneNumber: '', orders: [] });
    }
  },
});
