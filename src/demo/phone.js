// The phone: a mini-program page running the mini-program client, whose `wx` is played by the
// service's embedded emulator (wx.login() codes, and a camera that finds the code on the screen).
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
  login(options) {
    const openid = localStorage.getItem(OPENID_KEY);
    fetch('/demo/wx/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(openid === null ? {} : { openid }),
    })
      .then((response) => response.json())
      .then(
        (answer) => {
          localStorage.setItem(OPENID_KEY, answer.openid);
          options.success?.({ code: answer.code, errMsg: 'login:ok' });
        },
        (error) => options.fail?.({ errMsg: `login:fail ${error.message}` }),
      );
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

const auth = createAuthClient({
  baseUrl: window.location.origin,
  wx,
  device: 'Demo phone · emulated WeChat',
  storageKey: 'wxauth-demo:phone-session',
});
let request = null;

function show(id) {
  for (const card of ['home', 'confirm', 'done']) $(card).hidden = card !== id;
  $('phone-error').hidden = true;
}

function fail(error) {
  $('phone-error').textContent = error.message;
  $('phone-error').hidden = false;
}

async function start() {
  try {
    const session = await auth.ensureSession();
    $('phone-status').textContent = `Logged in to the mini-program as ${session.openid}`;
    show('home');
  } catch (error) {
    fail(error);
  }
}

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
