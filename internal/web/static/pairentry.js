// The not-paired screen's ways in besides the camera app: paste or type a
// pairing link or code (ours, or the published observable-code CLI's
// obsapp:// link), or scan its QR code here where the browser can read one.
//
// An app installed on the Home Screen before pairing has its own cookies on
// iPhone, and the camera app opens links in Safari: so the installed app
// needs a way to pair of its own.
import {api} from './api.js';
import {h} from './dom.js';
import {parsePairing} from './pairlink.js';

async function claim(code) {
  await api(`/api/v1/pairings/${encodeURIComponent(code)}/claim`, {method: 'POST', body: {}});
  location.replace('/');
}

/** The paste form, with a scan button where the browser reads QR codes. */
export function pairEntry() {
  const input = h('input', {id: 'pair-link', name: 'link', autocomplete: 'off', autocapitalize: 'off', spellcheck: 'false',
    inputmode: 'url', 'aria-describedby': 'pair-link-help'});
  const status = h('p', {class: 'form-status', role: 'status'});
  const submit = h('button', {type: 'submit', class: 'button primary', text: 'Pair'});
  const scanArea = h('div', {class: 'scan', id: 'pair-scan-area'});
  const form = h('form', {class: 'stack', id: 'pair-paste'},
    h('h2', {text: 'Pair with a link or code'}),
    h('p', {id: 'pair-link-help', class: 'hint',
      text: 'Paste the pairing link that observable setup or observable pair prints (an obsapp://pair?token=… link works too), or type its code. On iPhone, an app installed before pairing needs this: it does not share Safari\'s pairing.'}),
    h('label', {for: 'pair-link', text: 'Pairing link or code'}),
    h('div', {class: 'row'}, input, submit),
    status,
    scanArea);

  const fail = (message) => {
    status.classList.add('error');
    status.textContent = message;
  };
  const pairWith = async (code) => {
    status.classList.remove('error');
    status.textContent = 'Pairing…';
    submit.disabled = true;
    try {
      await claim(code);
    } catch (err) {
      fail(err.status === 404 || err.status === 410
        ? `${err.message} Run observable pair on your computer for a new code.`
        : err.message);
      submit.disabled = false;
    }
  };

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const parsed = parsePairing(input.value);
    if (parsed.error) {
      fail(parsed.error);
      input.focus();
      return;
    }
    pairWith(parsed.code);
  });

  offerScan(scanArea, {onCode: pairWith, onError: fail}).catch(() => {
    // No scanner: the paste form is the way in.
  });
  return form;
}

// The scanner is loaded only where the browser has BarcodeDetector, so
// phones without it (iPhone, desktop Firefox) never fetch it.
async function offerScan(area, handlers) {
  if (typeof window.BarcodeDetector !== 'function') return;
  const {scanSupported, scanButton} = await import('./scan.js');
  if (!(await scanSupported())) return;
  area.append(scanButton(handlers));
}
