import { AuthError, type WebLoginRequest } from '../../lib/wxauth/index';
import { auth } from '../../auth';

/**
 * The page a website's login code opens (the service's QR_LOGIN_PAGE): WeChat passes the code's scene
 * in options.scene. It shows who asks (what the browser says it is: a claim, not a fact), and logs the
 * website in only when the user picks the number the website shows: a code relayed from someone
 * else's screen shows its number there, not on the user's.
 */
Page({
  data: {
    request: null as WebLoginRequest | null,
    requestedAt: '',
    done: '',
    message: '',
  },

  async onLoad(options: Record<string, string | undefined>) {
    try {
      const request = await auth.scanWebLogin(options.scene ?? '');
      this.setData({ request, requestedAt: new Date(request.createdAt).toLocaleTimeString() });
    } catch (error) {
      this.setData({ message: explain(error) });
    }
  },

  /** One of the three numbers was tapped (data-choice). */
  async onPick(event: { currentTarget: { dataset: { choice?: string } } }) {
    const { request } = this.data;
    const picked = event.currentTarget.dataset.choice;
    if (request === null || picked === undefined) return;
    try {
      await auth.confirmWebLogin(request.ticket, picked);
      this.setData({ done: 'You are logged in on the website.' });
    } catch (error) {
      this.setData({ message: explain(error) });
    }
  },

  async onCancel() {
    const { request } = this.data;
    if (request !== null) await auth.cancelWebLogin(request.ticket).catch(() => undefined);
    wx.navigateBack().catch(() => undefined);
  },
});

function explain(error: unknown): string {
  if (error instanceof AuthError && error.code === 'invalid_grant') {
    return 'Wrong number, or the code expired or was used already: refresh the page on the computer and scan again.';
  }
  if (error instanceof AuthError && error.code === 'invalid_request') return 'This is not a login code.';
  return 'Something went wrong: try again.';
}
