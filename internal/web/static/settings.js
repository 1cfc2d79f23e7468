// Settings: notifications and their rules, muted jobs, this phone's name,
// unpairing, channels, and how to install the app.
import {api, bus, currentDevice, loadDevice, updateDevice} from './api.js';
import {fill, h} from './dom.js';
import {disablePush, enablePush, isIOS, isStandalone, pushBlocker} from './push.js';

let installPrompt = null;
window.addEventListener('beforeinstallprompt', (e) => {
  e.preventDefault();
  installPrompt = e;
});

const RULES = [
  ['failures', 'Failures', 'When a run fails, and when a failing job completes again. The default.'],
  ['all', 'Everything', 'Every event of every job that is not muted.'],
  ['off', 'Nothing', 'No notifications; the feed still updates live.'],
];

function section(title, id, ...children) {
  return h('section', {class: 'set', 'aria-labelledby': id}, h('h2', {id, text: title}), ...children);
}

// Runs a change, saying in `note` how it went.
async function save(note, fn, done = 'Saved.') {
  note.classList.remove('error');
  note.textContent = 'Saving…';
  try {
    await fn();
    note.textContent = done;
  } catch (e) {
    note.classList.add('error');
    note.textContent = e.message;
  }
}

export function settingsView(root, {signal}) {
  root.replaceChildren(h('h1', {tabindex: '-1', text: 'Settings'}), h('p', {class: 'loading', text: 'Loading…'}));
  (async () => {
    try {
      const [device, {jobs}] = await Promise.all([currentDevice() || loadDevice(), api('/api/v1/jobs')]);
      if (signal.aborted) return;
      fill(root, h('h1', {tabindex: '-1', text: 'Settings'}),
        notifications(device), muting(device, jobs), phone(device), channels(jobs, signal), pings(), install(), about());
    } catch (e) {
      if (!signal.aborted) root.append(h('p', {class: 'callout callout-warn', role: 'alert', text: e.message}));
    } finally {
      root.removeAttribute('aria-busy');
    }
  })();
}

function notifications(device) {
  const note = h('p', {class: 'hint', role: 'status'});
  const blocker = pushBlocker();
  const sw = h('button', {type: 'button', class: 'switch', role: 'switch', id: 'push-switch',
    'aria-labelledby': 'push-label', 'aria-describedby': 'push-note', 'aria-checked': String(device.push)});
  note.id = 'push-note';
  note.textContent = blocker || (device.push ? 'On: this phone is told about what you choose below.' : 'Off. Turn on to be told when jobs fail.');
  sw.addEventListener('click', async () => {
    const on = sw.getAttribute('aria-checked') !== 'true';
    sw.disabled = true;
    await save(note, async () => {
      if (on) await enablePush();
      else await disablePush();
      sw.setAttribute('aria-checked', String(on));
      await loadDevice();
    }, on ? 'On: this phone is told about what you choose below.' : 'Off: this phone gets no notifications.');
    sw.disabled = false;
  });
  const rulesNote = h('p', {class: 'hint', role: 'status'});
  const rules = h('fieldset', null, h('legend', {text: 'Tell me about'}),
    RULES.map(([value, label, hint]) => h('label', {class: 'choice'},
      h('input', {type: 'radio', name: 'notify', value, checked: device.notify === value,
        onchange: () => save(rulesNote, () => updateDevice({notify: value}))}),
      h('b', {text: label}), h('span', {class: 'hint', text: hint}))),
    rulesNote);
  return section('Notifications', 'notif-h',
    h('div', {class: 'switch-row'}, h('span', {id: 'push-label', text: 'Push notifications on this phone'}), sw),
    note, rules);
}

function muting(device, jobs) {
  const note = h('p', {class: 'hint', role: 'status'});
  const names = [...new Set([...jobs.map((j) => j.name), ...device.muted])].sort((a, b) => a.localeCompare(b));
  const list = h('ul', {class: 'mutes'}, names.map((name) => h('li', null, h('label', null, h('span', {data: name}),
    h('input', {type: 'checkbox', name: 'muted', value: name, checked: device.muted.includes(name),
      onchange: () => {
        const muted = [...list.querySelectorAll('input:checked')].map((i) => i.value);
        save(note, () => updateDevice({muted}));
      }})))));
  return section('Muted jobs', 'mute-h',
    h('p', {class: 'hint', text: 'A muted job never notifies this phone; its events still show in the feed.'}),
    names.length ? list : h('p', {class: 'muted', text: 'Jobs appear here once they have run.'}), note);
}

function phone(device) {
  const note = h('p', {class: 'hint', role: 'status'});
  const input = h('input', {id: 'device-name', name: 'name', maxlength: '100', autocomplete: 'off', value: device.name});
  const form = h('form', {class: 'stack'},
    h('label', {for: 'device-name', text: 'Name'}),
    h('div', {class: 'row'}, input, h('button', {type: 'submit', class: 'button', text: 'Save'})), note);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    save(note, () => updateDevice({name: input.value}));
  });
  const dialog = h('dialog', {'aria-labelledby': 'unpair-h'},
    h('h2', {id: 'unpair-h', text: 'Unpair this phone?'}),
    h('p', {text: 'It stops getting notifications and can no longer see this session\'s jobs. To pair again, run `observable pair` on your computer and scan the code.'}),
    h('p', {class: 'form-status', role: 'status'}),
    h('div', {class: 'actions'},
      h('button', {type: 'button', class: 'button', text: 'Cancel', onclick: () => dialog.close()}),
      h('button', {type: 'button', class: 'button danger', id: 'confirm-unpair', text: 'Unpair', onclick: () => unpair(dialog)})));
  return section('This phone', 'phone-h', form,
    h('p', null, h('button', {type: 'button', class: 'button danger', id: 'unpair', text: 'Unpair this phone', onclick: () => dialog.showModal()})),
    dialog);
}

// Where else the session's alerts go (channels.js, imported here so that
// the first load stays small).
function channels(jobs, signal) {
  const box = h('div', {class: 'chan-box'}, h('p', {class: 'muted', text: 'Loading…'}));
  import('./channels.js').then(({channelsSection}) => {
    if (!signal.aborted) channelsSection(box, {jobs, signal});
  }).catch((e) => box.replaceChildren(h('p', {class: 'callout callout-warn', text: e.message})));
  return section('Channels', 'chan-h',
    h('p', {class: 'hint', text: 'Besides the phones: ntfy, Slack, Discord, a webhook or email, with the same rules and one alert per incident.'}),
    box);
}

// The session's Healthchecks-style ping key (docs/pings.md): fetched on
// its own, so that a server without it still shows the rest.
function pings() {
  const out = h('p', {class: 'muted', text: 'Loading…'});
  api('/api/v1/ping-key').then(({ping_key: key, ping_base: base}) => out.replaceChildren(
    h('code', {id: 'ping-key', text: key}), h('br'), h('span', {class: 'hint', text: `Ping a job by name: ${base}/<job-slug>`}),
  )).catch((e) => { out.textContent = e.status === 404 ? 'This server has no ping key.' : e.message; });
  return section('Ping key', 'pingkey-h',
    h('p', {class: 'hint', text: 'For Healthchecks-style pings (curl, cron, systemd): /ping/<ping key>/<slug>. Anyone with it can ping your jobs, not read them.'}),
    out);
}

async function unpair(dialog) {
  const status = dialog.querySelector('.form-status');
  status.textContent = 'Unpairing…';
  try {
    // Unsubscribing first keeps the browser from holding a dead subscription.
    await disablePush().catch(() => {});
    await api('/api/v1/device', {method: 'DELETE'});
    if ('caches' in window) await caches.delete('api');
    dialog.close();
    bus.dispatchEvent(new Event('unpaired'));
  } catch (e) {
    status.textContent = e.status === 401 ? '' : e.message;
    if (e.status === 401) dialog.close();
  }
}

function install() {
  if (isStandalone()) return section('App', 'app-h', h('p', {text: 'Installed: you opened Observable from your Home Screen.'}));
  const button = installPrompt && h('button', {type: 'button', class: 'button primary', text: 'Install Observable',
    onclick: async () => {
      installPrompt.prompt();
      await installPrompt.userChoice;
      installPrompt = null;
      button.hidden = true;
    }});
  const iphone = [h('h3', {text: 'iPhone and iPad'}), h('ol', {class: 'steps'},
    h('li', {text: 'Open this page in Safari.'}),
    h('li', {text: 'Tap Share, then Add to Home Screen.'}),
    h('li', {text: 'Open Observable from the Home Screen and turn notifications on here. On iPhone, notifications need the app added to the Home Screen (iOS 16.4 or later).'}))];
  const android = [h('h3', {text: 'Android'}), h('ol', {class: 'steps'},
    h('li', {text: 'In Chrome, open the ⋮ menu.'}),
    h('li', {text: 'Tap Install app (or Add to Home screen).'}))];
  return section('Install the app', 'app-h',
    h('p', {text: 'Installed, Observable opens full screen from your Home Screen and works offline.'}),
    button, ...(isIOS() ? [...iphone, ...android] : [...android, ...iphone]));
}

function about() {
  const version = new URL(import.meta.url).pathname.split('/')[2] || 'dev';
  return section('About', 'about-h', h('dl', {class: 'kv'},
    h('dt', {text: 'Server'}), h('dd', {text: location.host}),
    h('dt', {text: 'App version'}), h('dd', {text: version})));
}
