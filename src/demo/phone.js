// The phone: the mini-program pages of two mini-programs of one open-platform account, each running
// the mini-program client, whose `wx` is played by the service's embedded emulator (wx.login() codes,
// the mini-program's appid, and a camera that finds the code on the screen).
import { createAuthClient } from '/demo/sdk/client/index.js';

const OPENID_KEY = 'wxauth-demo:phone-openid';
const $ = (id) => document.getElementById(id);

/** The few wx APIs the client uses, in a browser: fetch, the emulator's wx.login(), localStorage. */
const wx = {
  request(options) {
    const method = options.method ?? 'GET';
    const headers = { ...(options.header ?? {}) };
    let body;
    if (options.data !== undefined && method !== 'GET') {
      body = typeof options.data === 'string' ? options.data : JSON.stringify(options.data);
      headers['content-type'] ??= 'application/json';
    }
    fetch(options.url, { method, headers, body }).then(
      async (response) => {
        const text = await response.text();
        let data = text;
        try {
          if (text !== '') data = JSON.parse(text);
        } catch {
          // wx.request hands over the text when it is not JSON.
        }
        options.success?.({
          statusCode: response.status,
          data,
          header: Object.fromEntries(response.headers),
          errMsg: 'request:ok',
        });
      },
      (error) => options.fail?.({ errMsg: `request:fail ${error.message}` }),
    );
    return { abort() {} };
  },
  checkSession(options) {
    options.success?.({ errMsg: 'checkSession:ok' });
  },
  getStorageSync(key) {
    const value = localStorage.getItem(key);
    return value === null ? '' : JSON.parse(value);
  },
  setStorageSync(key, value) {
    localStorage.setItem(key, JSON.stringify(value));
  },
  removeStorageSync(key) {
    localStorage.removeItem(key);
  },
};

/**
 * `wx` inside the mini-program `app`: its wx.login() codes are that app's, for the phone's one WeChat
 * user, and wx.getAccountInfoSync() names it (the client sends that appid with the login).
 */
function wxOf(app) {
  return {
    ...wx,
    login(options) {
      const openid = localStorage.getItem(OPENID_KEY);
      fetch('/demo/wx/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(openid === null ? { appid: app.appid } : { openid, appid: app.appid }),
      })
        .then((response) => response.json())
        .then((answer) => {
          if (answer.code === undefined) throw new Error(answer.error_description);
          localStorage.setItem(OPENID_KEY, answer.openid);
          options.success?.({ code: answer.code, errMsg: 'login:ok' });
        })
        .catch((error) => options.fail?.({ errMsg: `login:fail ${error.message}` }));
    },
    getAccountInfoSync() {
      return { miniProgram: { appId: app.appid, envVersion: 'develop', version: '' } };
    },
  };
}

/** A client of the mini-program `app`, keeping its session apart from the other app's. */
function clientOf(app, storageKey) {
  return createAuthClient({
    baseUrl: window.location.origin,
    wx: wxOf(app),
    device: 'Demo phone · emulated WeChat',
    storageKey,
  });
}

/** The first mini-program (the one the website's code opens) and the second. */
let auth;
let second;
let secondApp;
let request = null;

function show(id) {
  for (const card of ['home', 'confirm', 'done']) $(card).hidden = card !== id;
  $('phone-error').hidden = true;
}

function fail(error) {
  $('phone-error').textContent = error.message;
  $('phone-error').hidden = false;
}

/** The person's sessions, in every app: GET /auth/sessions lists those of each of their openids. */
async function listSessions() {
  const response = await auth.request({ url: '/auth/sessions' });
  if (response.statusCode !== 200) throw new Error(`GET /auth/sessions answered ${response.statusCode}`);
  $('sessions').replaceChildren(
    ...response.data.sessions.map((session) => {
      const item = document.createElement('li');
      const current = session.current ? ' (this one)' : '';
      item.textContent = `${session.app.name} · ${session.device ?? 'no device given'}${current}`;
      return item;
    }),
  );
}

async function start() {
  try {
    const response = await fetch('/demo/wx/apps');
    const { apps } = await response.json();
    const miniprograms = apps.filter((app) => app.kind === 'miniprogram');
    const [first] = miniprograms;
    secondApp = miniprograms[1];
    $('bar').textContent = `WeChat · ${first.name}`;
    auth = clientOf(first, 'wxauth-demo:phone-session');
    const session = await auth.ensureSession();
    $('phone-status').textContent = `Logged in to the mini-program as ${session.openid}`;
    show('home');
    if (secondApp !== undefined) {
      second = clientOf(secondApp, 'wxauth-demo:phone-session-second');
      $('open-second').textContent = `Open the ${secondApp.name}`;
    } else $('open-second').hidden = true;
    $('apps').hidden = false;
    await listSessions();
  } catch (error) {
    fail(error);
  }
}

$('open-second').addEventListener('click', async () => {
  try {
    const session = await second.ensureSession();
    $('second-status').textContent = `Logged in to the ${secondApp.name} as ${session.openid}`;
    await listSessions();
  } catch (error) {
    fail(error);
  }
});

$('scan').addEventListener('click', async () => {
  try {
    const response = await fetch('/demo/wx/scan');
    const code = await response.json();
    if (!response.ok) throw new Error(code.error_description);
    // WeChat opens the code's page (QR_LOGIN_PAGE) with the scene URI-encoded in options.scene.
    request = await auth.scanWebLogin(encodeURIComponent(code.scene));
    $('request-device').textContent = request.device;
    $('request-address').textContent = request.address;
    $('request-time').textContent = new Date(request.createdAt).toLocaleTimeString();
    $('choices').replaceChildren(
      ...request.choices.map((choice) => {
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'choice';
        button.textContent = choice;
        button.addEventListener('click', () => void approve(choice));
        return button;
      }),
    );
    show('confirm');
  } catch (error) {
    fail(error);
  }
});

// The number picked is the confirm: the website's own number logs it in, any other ends the code.
async function approve(choice) {
  try {
    await auth.confirmWebLogin(request.ticket, choice);
    $('done-text').textContent = 'Done: you are logged in on the website.';
    show('done');
    // The website's new session is the person's too.
    listSessions().catch(fail);
  } catch (error) {
    show('home');
    fail(error);
  }
}

$('decline').addEventListener('click', async () => {
  try {
    await auth.cancelWebLogin(request.ticket);
    $('done-text').textContent = 'Canceled: the website was told.';
    show('done');
  } catch (error) {
    fail(error);
  }
});

$('again').addEventListener('click', () => show('home'));

void start();
