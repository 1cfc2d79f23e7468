// The pairing page: one tap claims the code with this phone's name (the
// server offers one guessed from the browser), then opens the app. The code
// is in the page's own address.
import {api} from './api.js';
import {visible} from './format.js';

const form = document.getElementById('pair-form');
const input = document.getElementById('device-name');
const button = document.getElementById('pair-button');
const status = document.getElementById('pair-status');

// Times were written in UTC by the server; say them in this phone's zone.
for (const t of document.querySelectorAll('time[data-local]')) {
  const when = Date.parse(t.dateTime);
  if (!Number.isNaN(when)) {
    t.textContent = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'}).format(when);
  }
}

// What the session's creator named (its host) may hide controls that make
// it read as another computer: show them, as the app does.
for (const el of document.querySelectorAll('[data-user]')) el.textContent = visible(el.textContent);

if (form) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const code = location.pathname.split('/').pop();
    button.disabled = true;
    button.textContent = 'Pairing…';
    status.classList.remove('error');
    status.textContent = '';
    try {
      await api(`/api/v1/pairings/${encodeURIComponent(code)}/claim`, {method: 'POST', body: {name: input.value.trim()}});
      status.textContent = 'Paired. Opening the app…';
      location.replace('/');
    } catch (err) {
      status.classList.add('error');
      status.textContent = err.status === 0
        ? 'Cannot reach the server. Check that this phone is on the same network as it, then try again.'
        : err.message;
      button.disabled = false;
      button.textContent = 'Pair this phone';
    }
  });
}
