import assert from 'node:assert/strict';
import {test} from 'node:test';
import {parsePairing} from '../../static/pairlink.js';

const CODE = 'AbC123-_xyzAbC123-_xy'; // 22 URL-safe characters, as the server makes them

test('the published observable-code CLI\'s obsapp:// link gives its token', () => {
  assert.deepEqual(parsePairing(`obsapp://pair?token=${CODE}`), {code: CODE});
  assert.deepEqual(parsePairing(`  obsapp://pair?token=${CODE}\n`), {code: CODE});
  assert.deepEqual(parsePairing(`OBSAPP://pair?token=${CODE}`), {code: CODE});
  assert.deepEqual(parsePairing(`obsapp://pair/?token=${CODE}&v=2`), {code: CODE});
  assert.deepEqual(parsePairing(`obsapp://pair?v=2&token=${encodeURIComponent(CODE)}#x`), {code: CODE});
  // The line its CLI prints when it cannot draw the QR code, copied whole.
  assert.deepEqual(parsePairing(`Scan this URL to pair your phone:\n  obsapp://pair?token=${CODE}\n`), {code: CODE});
});

test('this server\'s pairing URL, with or without its origin, gives its code', () => {
  for (const s of [
    `https://observable.example.com/pair/${CODE}`,
    `http://192.168.1.20:3000/pair/${CODE}/`,
    `http://127.0.0.1:3000/pair/${CODE}?utm=x#top`,
    `/pair/${CODE}`,
    `open this link on your phone: https://o.example/pair/${CODE}`,
    `<https://o.example/pair/${CODE}>`,
  ]) {
    assert.deepEqual(parsePairing(s), {code: CODE}, s);
  }
});

test('a bare code, pasted or typed in groups, is taken as it is', () => {
  assert.deepEqual(parsePairing(CODE), {code: CODE});
  assert.deepEqual(parsePairing(` ${CODE.slice(0, 11)} ${CODE.slice(11)} `), {code: CODE});
  // Case matters: codes are base64url.
  assert.deepEqual(parsePairing(CODE.toLowerCase()), {code: CODE.toLowerCase()});
});

test('what is not a link or code says what to paste instead', () => {
  for (const s of ['', '   ', null, undefined, 'obsapp://pair', 'obsapp://pair?token=', 'https://example.com/',
    'https://example.com/pairing/' + CODE, 'hello world!', '/pair/', `obsapp://pair?token=${CODE}!`,
    'javascript:alert(1)', `/pair/${'%E0%A4%A'}`, 'a'.repeat(300)]) {
    const r = parsePairing(s);
    assert.equal(r.code, undefined, `${s} gave a code`);
    assert.match(r.error, /\w/, `${s} gave no reason`);
  }
  assert.match(parsePairing('AbC123').error, /too short/);
  assert.match(parsePairing('obsapp://pair?x=1').error, /no token/);
});

test('a code never carries characters that would change the claim URL', () => {
  for (const s of [`/pair/${CODE}%2F..%2Fsessions`, `obsapp://pair?token=${CODE}%2F..`, `/pair/..%2F..%2Fapi`]) {
    const r = parsePairing(s);
    assert.ok(r.code === undefined || /^[A-Za-z0-9_-]+$/.test(r.code), `${s} gave ${r.code}`);
  }
});
