// The pairing page: one tap claims the code with this phone's name, then
// opens the app. The code is in the page's own address.
const form = document.getElementById('pair-form');
const input = document.getElementById('device-name');
const button = document.getElementById('pair-button');
const status = document.getElementById('pair-status');

function guessName() {
  const ua = navigator.userAgent;
  if (/iPhone/.test(ua)) return 'iPhone';
  if (/iPad/.test(ua) || (navigator.platform === 'MacIntel' && navigator.maxTouchPoints > 1)) return 'iPad';
  const android = ua.match(/Android[^;]*;\s*([^;)]+?)(?:\s+Build\/[^;)]*)?[;)]/);
  if (android && android[1] && android[1] !== 'K') return android[1].trim();
  if (/Android/.test(ua)) return 'Android phone';
  return 'Phone';
}

// Times were written in UTC by the server; say them in this phone's zone.
for (const t of document.querySelectorAll('time[data-local]')) {
  const when = Date.parse(t.dateTime);
  if (!Number.isNaN(when)) {
    t.textContent = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium', timeStyle: 'short'}).format(when);
  }
}

if (form) {
  input.value = guessName();
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const code = location.pathname.split('/').pop();
    button.disabled = true;
    button.textContent = 'Pairing…';
    status.classList.remove('error');
    status.textContent = '';
    try {
      const res = await fetch(`/api/v1/pairings/${encodeURIComponent(code)}/claim`, {
        method: 'POST',
        credentials: 'same-origin',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({name: input.value.trim()}),
      });
      if (res.ok) {
        status.textContent = 'Paired. Opening the app…';
        location.replace('/');
        return;
      }
      let message = `The server answered ${res.status}.`;
      try {
        message = (await res.json()).error.message || message;
      } catch {
        // Keep the status line.
      }
      throw new Error(message);
    } catch (err) {
      status.classList.add('error');
      status.textContent = err instanceof TypeError
        ? 'Cannot reach the server. Check that this phone is on the same network as it, then try again.'
        : err.message;
      button.disabled = false;
      button.textContent = 'Pair this phone';
    }
  });
}
