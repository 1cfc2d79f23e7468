// Scanning a pairing QR code with this phone's camera, where the browser
// has BarcodeDetector (Chrome on Android). Any QR code that holds a pairing
// link or code will do: this server's https://…/pair/<code>, or the
// obsapp://pair?token=<code> of the published observable-code CLI.
// Loaded only when BarcodeDetector exists (see pairentry.js).
import {h} from './dom.js';
import {parsePairing} from './pairlink.js';

// Often enough to feel instant, rarely enough to leave the phone cool.
const EVERY_MS = 250;

/** Whether this browser can read QR codes at all. */
export async function scanSupported() {
  const BD = window.BarcodeDetector;
  if (typeof BD !== 'function') return false;
  if (typeof BD.getSupportedFormats !== 'function') return true;
  try {
    return (await BD.getSupportedFormats()).includes('qr_code');
  } catch {
    return false;
  }
}

// Whether this page may open the camera itself: the browser has
// getUserMedia and the page's Permissions-Policy allows it (asking anyway
// would be refused, and logged as a violation).
function cameraAllowed() {
  if (!navigator.mediaDevices || typeof navigator.mediaDevices.getUserMedia !== 'function') return false;
  const policy = document.permissionsPolicy || document.featurePolicy;
  return !policy || typeof policy.allowsFeature !== 'function' || policy.allowsFeature('camera');
}

/**
 * The "Scan the QR code" button and the viewfinder it opens. onCode gets
 * the first pairing code seen; onError a sentence for the person.
 */
export function scanButton({onCode, onError}) {
  const video = h('video', {id: 'pair-scan-video', playsinline: true, muted: true, autoplay: true, 'aria-label': 'Camera view'});
  const hint = h('p', {class: 'hint', text: 'Point the camera at the QR code that observable setup or observable pair shows.'});
  const cancel = h('button', {type: 'button', class: 'button', text: 'Stop the camera'});
  const finder = h('div', {class: 'scan-view stack', hidden: true}, video, hint, cancel);
  // A photo is the way when the camera cannot be opened here (permission
  // refused, or the page may not use it): the camera app takes it.
  const photo = h('input', {type: 'file', accept: 'image/*', capture: 'environment', id: 'pair-scan-photo', class: 'sr-only', tabindex: '-1'});
  const button = h('button', {type: 'button', class: 'button', id: 'pair-scan', text: 'Scan the QR code'});

  let stream = null;
  let timer = 0;
  let done = false;

  const stop = () => {
    clearTimeout(timer);
    timer = 0;
    if (stream) for (const track of stream.getTracks()) track.stop();
    stream = null;
    video.srcObject = null;
    finder.hidden = true;
    button.hidden = false;
  };
  // A code from any QR code seen: the first that parses is used, once.
  const found = (barcodes) => {
    for (const b of barcodes || []) {
      const parsed = parsePairing(b.rawValue);
      if (parsed.code && !done) {
        done = true;
        stop();
        onCode(parsed.code);
        return true;
      }
    }
    return false;
  };
  const detector = () => new window.BarcodeDetector({formats: ['qr_code']});

  const look = async (d) => {
    timer = 0;
    // The screen was left (paired, reloaded): let the camera go.
    if (!stream || !video.isConnected) return stop();
    try {
      if (video.readyState >= 2 && found(await d.detect(video))) return;
    } catch {
      // A frame it could not read; the next one may do.
    }
    if (stream) timer = setTimeout(() => look(d), EVERY_MS);
  };

  button.addEventListener('click', async () => {
    done = false;
    let d;
    try {
      d = detector();
    } catch {
      onError('This browser cannot read QR codes: paste the pairing link instead.');
      return;
    }
    if (!cameraAllowed()) {
      photo.click();
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({video: {facingMode: 'environment'}, audio: false});
    } catch (err) {
      if (err && err.name === 'NotAllowedError') {
        onError('The camera was not allowed. Take a photo of the QR code instead, or paste the pairing link.');
      }
      photo.click();
      return;
    }
    video.srcObject = stream;
    finder.hidden = false;
    button.hidden = true;
    cancel.focus();
    look(d);
  });
  cancel.addEventListener('click', () => {
    stop();
    button.focus();
  });
  photo.addEventListener('change', async () => {
    const file = photo.files && photo.files[0];
    photo.value = '';
    if (!file) return;
    done = false;
    try {
      const bitmap = await createImageBitmap(file);
      const ok = found(await detector().detect(bitmap));
      bitmap.close();
      if (!ok) onError('No pairing QR code in that photo. Try again closer, or paste the pairing link.');
    } catch {
      onError('That photo could not be read. Try again, or paste the pairing link.');
    }
  });
  // The camera is never left on behind the person's back.
  window.addEventListener('pagehide', stop);
  document.addEventListener('visibilitychange', () => {
    if (document.hidden) stop();
  });

  return h('div', {class: 'stack'}, h('p', {class: 'hint', text: 'Or scan it here:'}), button, photo, finder);
}
