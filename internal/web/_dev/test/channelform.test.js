import assert from 'node:assert/strict';
import {test} from 'node:test';
import {
  RULES, TYPES, channelBody, channelWords, checkFields, destination, fieldsOf, fullSecret, muteNames,
  mutedWords, ruleLabel, stateLines, summaryWords, testWords, typeLabel,
} from '../../static/channelform.js';

const slack = {id: 'c1', type: 'slack', notify: 'failures', muted: [], verified: true, last_error: null,
  url: 'https://hooks.slack.com/…Xy9Q'};
const ntfy = {id: 'c2', type: 'ntfy', notify: 'all', muted: ['a', 'b'], verified: true, last_error: null,
  server: 'https://ntfy.sh', topic: '…ab12', token: '…9f3e'};

test('the types are offered in the server\'s order, each with fields that have labels and hints', () => {
  assert.deepEqual(TYPES.map((t) => t.type), ['ntfy', 'slack', 'discord', 'webhook', 'email']);
  for (const {type} of TYPES) {
    const fields = fieldsOf(type);
    assert.ok(fields.length, type);
    for (const f of fields) {
      assert.ok(f.label && f.hint, `${type}.${f.name} has a label and a hint`);
      assert.ok(['text', 'url', 'email'].includes(f.input), `${type}.${f.name} input type`);
    }
  }
  assert.deepEqual(fieldsOf('ntfy').map((f) => f.name), ['server', 'topic', 'token']);
  assert.deepEqual(fieldsOf('webhook').map((f) => f.name), ['url', 'secret']);
  assert.equal(fieldsOf('email')[0].input, 'email');
  assert.equal(fieldsOf('slack')[0].input, 'url');
  assert.deepEqual(fieldsOf('carrier_pigeon'), []);
});

test('a channel in words: its type and masked destination, https left unsaid', () => {
  assert.equal(channelWords(slack), 'Slack · hooks.slack.com/…Xy9Q');
  assert.equal(channelWords(ntfy), 'ntfy · ntfy.sh/…ab12');
  assert.equal(channelWords({type: 'ntfy', topic: '…zz99'}), 'ntfy · ntfy.sh/…zz99', 'the default server');
  assert.equal(channelWords({type: 'ntfy', server: 'https://ntfy.example.com/', topic: '…zz99'}), 'ntfy · ntfy.example.com/…zz99');
  assert.equal(channelWords({type: 'discord', url: 'https://discord.com/…/…k9Pz'}), 'Discord · discord.com/…/…k9Pz');
  assert.equal(channelWords({type: 'webhook', url: 'http://127.0.0.1:9000/…beef'}), 'Webhook · http://127.0.0.1:9000/…beef',
    'plain http is worth seeing');
  assert.equal(channelWords({type: 'email', address: 'ana@example.com'}), 'Email · ana@example.com');
  assert.equal(channelWords({type: 'matrix'}), 'matrix', 'an unknown type is named as it is');
  assert.equal(destination({type: 'slack'}), '');
  assert.equal(typeLabel('webhook'), 'Webhook');
});

test('the rule and the muted jobs in words', () => {
  assert.deepEqual(RULES.map(([v, label]) => [v, label]), [['failures', 'Failures'], ['all', 'Everything'], ['off', 'Nothing']]);
  assert.equal(ruleLabel('off'), 'Nothing');
  assert.equal(ruleLabel('later'), 'later');
  assert.equal(mutedWords([]), 'No jobs muted');
  assert.equal(mutedWords(undefined), 'No jobs muted');
  assert.equal(mutedWords(['x']), '1 job muted');
  assert.equal(summaryWords(ntfy), 'Everything · 2 jobs muted');
});

test('the form\'s own checks: required fields, web and email addresses, ntfy topics', () => {
  assert.deepEqual(checkFields('slack', {}), {field: 'url', message: 'Enter the webhook URL.'});
  assert.equal(checkFields('slack', {url: '  '}).field, 'url', 'blank is empty');
  assert.deepEqual(checkFields('ntfy', {}), {field: 'topic', message: 'Enter a topic.'});
  assert.equal(checkFields('slack', {url: 'hooks.slack.com/services/x'}).field, 'url');
  assert.equal(checkFields('slack', {url: 'javascript:alert(1)'}).field, 'url');
  assert.equal(checkFields('slack', {url: 'https://hooks.slack.com/services/T/B/x'}), null);
  // http and private hosts are the server's call (--channel-allow).
  assert.equal(checkFields('webhook', {url: 'http://example.com'}), null);
  assert.equal(checkFields('ntfy', {topic: 'alerts'}), null, 'server and token are optional');
  assert.equal(checkFields('ntfy', {topic: 'my alerts'}).field, 'topic');
  assert.equal(checkFields('ntfy', {topic: 'x'.repeat(65)}).field, 'topic');
  assert.equal(checkFields('ntfy', {topic: 'ok', server: 'ntfy.sh'}).field, 'server');
  assert.equal(checkFields('email', {address: 'ana@example.com'}), null);
  for (const bad of ['ana', 'Ana <ana@example.com>', 'a@b', `${'a'.repeat(250)}@example.com`]) {
    assert.equal(checkFields('email', {address: bad}).field, 'address', bad);
  }
  assert.equal(checkFields('', {}).field, 'type');
});

test('the POST body: type, rule and the filled-in fields, trimmed, nothing empty', () => {
  assert.deepEqual(channelBody('ntfy', {server: '', topic: ' alerts ', token: ''}), {type: 'ntfy', notify: 'failures', topic: 'alerts'});
  assert.deepEqual(channelBody('webhook', {url: 'https://x.example/h', secret: 's3'}, 'all'),
    {type: 'webhook', notify: 'all', url: 'https://x.example/h', secret: 's3'});
  // A field of another type typed in before switching is not sent.
  assert.deepEqual(channelBody('email', {address: 'a@b.example', url: 'https://x'}), {type: 'email', notify: 'failures', address: 'a@b.example'});
});

test('state lines: turned off, waiting for confirmation, the last error with when', () => {
  const now = Date.parse('2026-03-10T12:00:00Z');
  const fmt = {format: (t) => new Date(t).toISOString().slice(0, 10)};
  assert.deepEqual(stateLines(slack, now, fmt), []);
  const failing = {...slack, last_error: {at: '2026-03-10T11:55:00Z', message: 'Slack answered 404: the webhook was deleted'}};
  const [line] = stateLines(failing, now, fmt);
  assert.equal(line.kind, 'error');
  assert.match(line.text, /^Last delivery failed \(.*5.*\): Slack answered 404: the webhook was deleted$/);
  const off = {...failing, notify: 'off', disabled_at: '2026-03-09T08:00:00Z'};
  assert.deepEqual(stateLines(off, now, fmt).map((l) => l.kind), ['off', 'error']);
  assert.equal(stateLines(off, now, fmt)[0].text, 'Turned off on 2026-03-09 after repeated failures');
  const mail = {type: 'email', address: 'ana@example.com', verified: false, last_error: null};
  assert.equal(stateLines(mail, now, fmt)[0].kind, 'confirm');
  assert.match(stateLines(mail, now, fmt)[0].text, /^Waiting for you to confirm ana@example\.com/);
  assert.deepEqual(stateLines({...mail, verified: true}, now, fmt), []);
});

test('"Send a test" says where to look', () => {
  assert.equal(testWords(slack), 'Test sent — check the Slack channel.');
  assert.equal(testWords(ntfy), 'Test sent — check the ntfy app.');
  assert.equal(testWords({type: 'webhook', url: 'https://hooks.example.com/…beef'}), 'Test sent — check your receiver at hooks.example.com.');
  assert.equal(testWords({type: 'email', address: 'ana@example.com', verified: true}), 'Test sent — check ana@example.com.');
  assert.equal(testWords({type: 'email', address: 'ana@example.com', verified: false}), 'Confirmation sent again — check ana@example.com.');
});

test('a webhook secret is shown only when the answer carries it in full', () => {
  assert.equal(fullSecret({type: 'webhook', secret: 'q2Vb9x-Fs3k'}), 'q2Vb9x-Fs3k');
  assert.equal(fullSecret({type: 'webhook', secret: '…a1b2'}), '');
  assert.equal(fullSecret(slack), '');
  assert.equal(fullSecret(null), '');
});

test('jobs to mute: the session\'s and the muted ones, once each, sorted', () => {
  assert.deepEqual(muteNames(['b', 'a'], ['gone', 'a']), ['a', 'b', 'gone']);
  assert.deepEqual(muteNames([], undefined), []);
});
