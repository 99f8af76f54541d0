import { auth } from './auth';

App({
  onLaunch() {
    // Logs in on the first start, or when WeChat's session expired; otherwise only wx.checkSession().
    auth.ensureSession().catch((error: unknown) => console.error('wxauth: no session yet', error));
  },
});
