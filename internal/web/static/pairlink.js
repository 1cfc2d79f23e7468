// What a person pastes, types or scans to pair: turned into a pairing code.
// Pure (no DOM, no network), so node --test covers every shape.
//
// Accepted, anywhere in the text (a whole line copied from a terminal works):
//   obsapp://pair?token=<code>   the published observable-code CLI's QR code
//   https://host/pair/<code>     this server's pairing URL (its QR codes too)
//   /pair/<code>                 the same without the origin
//   <code>                       the bare code, typed or pasted

// Codes are URL-safe base64 (this server's are 22 characters, 128 bits).
// Other servers' tokens may be longer; anything shorter than 16 is a typo.
const CODE = /^[A-Za-z0-9_-]{16,256}$/;
const OBSAPP = /obsapp:(?:\/\/)?pair\/?\?([^\s#"'<>]*)/i;
const PAIR_PATH = /\/pair\/([^\s/?#"'<>]+)/;

function decode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // a malformed escape is not a code: CODE rejects it below
  }
}

/**
 * parsePairing('obsapp://pair?token=AbC…') → {code: 'AbC…'}
 * parsePairing('nonsense') → {error: 'a sentence saying what to paste'}
 */
export function parsePairing(input) {
  const text = String(input == null ? '' : input).trim();
  if (!text) return {error: 'Paste the pairing link, or type the code that observable setup or observable pair shows.'};

  let candidate = null;
  const app = text.match(OBSAPP);
  if (app) {
    candidate = new URLSearchParams(app[1]).get('token');
    if (!candidate) return {error: 'That obsapp:// link has no token: copy the whole link, including ?token=…'};
  } else {
    const path = text.match(PAIR_PATH);
    if (path) candidate = decode(path[1]);
    else if (!/[:/]/.test(text)) candidate = text.replace(/\s+/g, ''); // a code typed in groups
  }
  if (candidate != null) candidate = candidate.trim();
  if (candidate && CODE.test(candidate)) return {code: candidate};
  if (candidate && candidate.length < 16 && /^[A-Za-z0-9_-]+$/.test(candidate)) {
    return {error: 'That code is too short: check that you copied all of it.'};
  }
  return {error: 'That is not a pairing link or code. Paste the link that observable setup or observable pair prints, such as https://…/pair/AbC123… or obsapp://pair?token=AbC123…'};
}
