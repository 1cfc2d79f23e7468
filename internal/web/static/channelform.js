// Channels (Settings → Channels) without the DOM: each type's fields with
// their labels and hints, the checks the form can make before asking the
// server (the server has the last word: which hosts may use http, what is
// refused), the POST body, and a channel in words. channels.js draws them.
import {relTime} from './format.js';

/** The channel types, in the order the phone offers them (domain.ChannelTypes). */
export const TYPES = [
  {type: 'ntfy', label: 'ntfy', hint: 'A push to the ntfy app (Android, iPhone, desktop), on ntfy.sh or your own server.'},
  {type: 'slack', label: 'Slack', hint: 'A message in a Slack channel, through an incoming webhook.'},
  {type: 'discord', label: 'Discord', hint: 'A message in a Discord channel, through its webhook.'},
  {type: 'webhook', label: 'Webhook', hint: 'A signed JSON POST to a URL of yours, for your own scripts.'},
  {type: 'email', label: 'Email', hint: 'A message to an address, once it is confirmed.'},
];

// Each type's fields, in the order the form asks for them. `name` is the
// API's field, `input` the input's type (the phone's keyboard follows it),
// `required` what to ask for when it is left empty.
const FIELDS = {
  ntfy: [
    {name: 'server', label: 'Server', input: 'url', placeholder: 'https://ntfy.sh',
      hint: 'Empty: https://ntfy.sh.'},
    {name: 'topic', label: 'Topic', input: 'text', required: 'a topic', placeholder: 'e.g. observable-k3v9x2m7q',
      hint: 'Up to 64 letters, digits, - and _. On ntfy.sh anyone who knows a topic can read it: pick one nobody would guess, and subscribe to it in the ntfy app.'},
    {name: 'token', label: 'Access token', input: 'text', secret: true,
      hint: 'Only for a topic that needs one (tk_…). Optional.'},
  ],
  slack: [
    {name: 'url', label: 'Webhook URL', input: 'url', required: 'the webhook URL', placeholder: 'https://hooks.slack.com/services/…',
      hint: 'In Slack: Apps → Incoming Webhooks → Add to Slack, pick the channel, copy the Webhook URL.'},
  ],
  discord: [
    {name: 'url', label: 'Webhook URL', input: 'url', required: 'the webhook URL', placeholder: 'https://discord.com/api/webhooks/…',
      hint: 'In Discord: the channel\'s settings → Integrations → Webhooks → New Webhook → Copy Webhook URL.'},
  ],
  webhook: [
    {name: 'url', label: 'URL', input: 'url', required: 'the URL to POST to', placeholder: 'https://example.com/hooks/observable',
      hint: 'Each alert is POSTed here as JSON, signed with the secret below (docs/channels.md).'},
    {name: 'secret', label: 'Signing secret', input: 'text', secret: true,
      hint: 'Empty: the server makes one and shows it to you once.'},
  ],
  email: [
    {name: 'address', label: 'Email address', input: 'email', required: 'the email address', placeholder: 'you@example.com', autocomplete: 'email',
      hint: 'It gets one message with a link first; nothing else until you open it.'},
  ],
};

/** The fields of a type (none for a type this app does not know). */
export const fieldsOf = (type) => FIELDS[type] || [];

/** What a channel sends, as the phone's own rule (settings.js) words it. */
export const RULES = [
  ['failures', 'Failures', 'When a job fails, misses a run or overruns, and when it recovers. The default.'],
  ['all', 'Everything', 'Every event of every job that is not muted.'],
  ['off', 'Nothing', 'Nothing is sent; "Send a test" still works.'],
];

export const typeLabel = (type) => (TYPES.find((t) => t.type === type) || {label: String(type || 'Channel')}).label;

const TOPIC = /^[-_A-Za-z0-9]{1,64}$/;
// One address, no display name: the server checks it fully (RFC 5322).
const EMAIL = /^[^\s@<>]+@[^\s@<>]+\.[^\s@<>]+$/;

/**
 * The first problem the form can see in values (field name → text) for
 * type, as {field, message}; null when it may be sent.
 */
export function checkFields(type, values) {
  const fields = fieldsOf(type);
  if (!fields.length) return {field: 'type', message: 'Choose what kind of channel to add.'};
  for (const f of fields) {
    const v = String(values[f.name] ?? '').trim();
    if (!v) {
      if (f.required) return {field: f.name, message: `Enter ${f.required}.`};
      continue;
    }
    if (f.input === 'url' && !isWebURL(v)) {
      return {field: f.name, message: 'That is not a web address: it starts with https://.'};
    }
    if (f.input === 'email' && (!EMAIL.test(v) || v.length > 254)) {
      return {field: f.name, message: 'That is not an email address: it looks like name@example.com.'};
    }
    if (f.name === 'topic' && !TOPIC.test(v)) {
      return {field: f.name, message: 'A topic is 1 to 64 letters, digits, - or _, without spaces.'};
    }
  }
  return null;
}

function isWebURL(v) {
  try {
    const u = new URL(v);
    return (u.protocol === 'https:' || u.protocol === 'http:') && !!u.hostname;
  } catch {
    return false;
  }
}

/** The POST body: the type, the rule and the filled-in fields, trimmed. */
export function channelBody(type, values, notify = 'failures') {
  const body = {type, notify};
  for (const f of fieldsOf(type)) {
    const v = String(values[f.name] ?? '').trim();
    if (v) body[f.name] = v;
  }
  return body;
}

// https is the rule, so it goes without saying; http is worth seeing.
const bare = (url) => String(url || '').replace(/^https:\/\//i, '').replace(/\/$/, '');

/** Where a channel sends, masked as the server shows it: "hooks.slack.com/…Xy9Q". */
export function destination(ch) {
  if (ch.type === 'email') return String(ch.address || '');
  if (ch.type === 'ntfy') {
    const server = bare(ch.server || 'https://ntfy.sh');
    return ch.topic ? `${server}/${ch.topic}` : server;
  }
  return bare(ch.url || ch.address || '');
}

/** A channel in words: "Slack · hooks.slack.com/…Xy9Q". */
export function channelWords(ch) {
  const where = destination(ch);
  return where ? `${typeLabel(ch.type)} · ${where}` : typeLabel(ch.type);
}

export const ruleLabel = (notify) => (RULES.find(([v]) => v === notify) || [notify, String(notify || '')])[1];

export function mutedWords(muted) {
  const n = Array.isArray(muted) ? muted.length : 0;
  if (!n) return 'No jobs muted';
  return n === 1 ? '1 job muted' : `${n} jobs muted`;
}

/** The one-line summary under a channel's name: its rule and its muted jobs. */
export const summaryWords = (ch) => `${ruleLabel(ch.notify)} · ${mutedWords(ch.muted)}`;

const dayFmt = new Intl.DateTimeFormat(undefined, {dateStyle: 'medium'});

/**
 * What a channel's state needs to say, most urgent first, as
 * [{kind, text}]: kind is 'off' (turned itself off: offer to turn it on),
 * 'confirm' (an email address not confirmed yet) or 'error' (its last
 * delivery failed).
 */
export function stateLines(ch, now = Date.now(), fmt = dayFmt) {
  const out = [];
  const off = ch.disabled_at && Date.parse(ch.disabled_at);
  if (off) out.push({kind: 'off', text: `Turned off on ${fmt.format(off)} after repeated failures`});
  if (ch.type === 'email' && ch.verified === false) {
    out.push({kind: 'confirm', text: `Waiting for you to confirm ${ch.address || 'the address'}: open the link in the message sent to it.`});
  }
  const err = ch.last_error;
  if (err && err.message) {
    const when = err.at ? relTime(err.at, now) : '';
    out.push({kind: 'error', text: `Last delivery failed${when ? ` (${when})` : ''}: ${err.message}`});
  }
  return out;
}

/** What "Send a test" says once the server took it. */
export function testWords(ch) {
  if (ch.type === 'email' && ch.verified === false) {
    return `Confirmation sent again — check ${ch.address || 'the inbox'}.`;
  }
  const where = {
    ntfy: 'the ntfy app',
    slack: 'the Slack channel',
    discord: 'the Discord channel',
    email: ch.address,
    webhook: `your receiver at ${hostOf(ch.url)}`,
  }[ch.type];
  return `Test sent — check ${where || destination(ch) || 'the channel'}.`;
}

function hostOf(url) {
  try {
    return new URL(url).host;
  } catch {
    return bare(url).split('/')[0] || 'its URL';
  }
}

/**
 * The webhook secret in full, which only the answer that created the
 * channel carries; '' once it is masked ("…a1b2").
 */
export function fullSecret(ch) {
  const s = ch && typeof ch.secret === 'string' ? ch.secret : '';
  return s && !s.startsWith('…') ? s : '';
}

/** The job names to offer for muting: the session's and any muted already, sorted. */
export function muteNames(jobNames, muted) {
  return [...new Set([...jobNames, ...(muted || [])])].sort((a, b) => a.localeCompare(b));
}
