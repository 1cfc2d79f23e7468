// Settings → Channels: where else than the phones a session's alerts go
// (ntfy, Slack, Discord, a webhook, email). The list, with each channel's
// rule, muted jobs, test and removal, and the form that adds one. settings.js
// imports this when Settings opens, so the first load stays small; the
// words and the form's fields are channelform.js.
import {api} from './api.js';
import {h} from './dom.js';
import {
  RULES, TYPES, channelBody, channelWords, checkFields, destination, fieldsOf, fullSecret, muteNames,
  ruleLabel, stateLines, summaryWords, testWords, typeLabel,
} from './channelform.js';

const path = (id = '', tail = '') => `/api/v1/channels${id ? `/${encodeURIComponent(id)}` : ''}${tail}`;

// A note saying how a call went: `done` once it worked, its error if not.
async function run(note, fn, done) {
  note.classList.remove('error');
  note.textContent = 'Saving…';
  try {
    const out = await fn();
    note.textContent = typeof done === 'function' ? done(out) : done;
    return out;
  } catch (e) {
    note.classList.add('error');
    note.textContent = e.message;
    return null;
  }
}

const ruleSelect = (id, value) => h('select', {id, name: 'notify'},
  RULES.map(([v, label]) => h('option', {value: v, text: label, selected: v === value})));

const ruleHint = (notify) => (RULES.find(([v]) => v === notify) || [])[2] || '';

/** Fills box with the session's channels and the add form. */
export function channelsSection(box, {jobs, signal}) {
  const names = jobs.map((j) => j.name);
  // The one time the server shows a webhook's secret: kept while Settings is open.
  const secrets = new Map();
  const list = h('ul', {class: 'chans', 'aria-label': 'Your channels'});
  const empty = h('p', {class: 'muted', text: 'None yet: alerts go to paired phones only.'});
  const note = h('p', {class: 'hint', role: 'status'});
  const heading = () => {
    // The section's heading takes the focus when what had it is gone.
    const el = document.getElementById('chan-h');
    if (el) {
      el.tabIndex = -1;
      el.focus();
    }
  };
  const showEmpty = () => { empty.hidden = list.childElementCount > 0; };

  function item(start) {
    let ch = start;
    const id = `ch-${ch.id}`;
    const status = h('p', {class: 'hint', role: 'status', id: `${id}-note`});
    const summary = h('p', {class: 'hint chan-sum'});
    const state = h('div', {class: 'chan-state'});
    const rule = ruleSelect(`${id}-rule`, ch.notify);
    const mutes = h('details', {class: 'chan-mutes'});
    const li = h('li', {class: 'chan', id, 'aria-labelledby': `${id}-h`});
    const patch = (body, done) => run(status, () => api(path(ch.id), {method: 'PATCH', body}), done)
      .then((got) => { if (got) paint(got); return got; });

    function paint(next) {
      ch = next;
      summary.textContent = summaryWords(ch);
      rule.value = ch.notify;
      state.replaceChildren(...stateLines(ch).map((line) => h('p', {class: `chan-line chan-${line.kind}`},
        h('span', {data: line.text}),
        line.kind === 'off' ? h('button', {type: 'button', class: 'button', id: `${id}-on`, text: 'Turn on again',
          onclick: () => patch({notify: 'failures'}, 'On again: it sends failures. Choose another rule below if you like.')
            .then((got) => { if (got) rule.focus(); })}) : null)));
      mutes.querySelector('summary').textContent = `Muted jobs (${(ch.muted || []).length})`;
    }

    rule.addEventListener('change', () => patch({notify: rule.value}, () => `Saved: ${ruleLabel(rule.value)}.`));
    const jobNames = muteNames(names, ch.muted);
    const checks = h('ul', {class: 'mutes'}, jobNames.map((name) => h('li', null, h('label', null, h('span', {data: name}),
      h('input', {type: 'checkbox', name: `${id}-muted`, value: name, checked: (ch.muted || []).includes(name),
        onchange: () => patch({muted: [...checks.querySelectorAll('input:checked')].map((i) => i.value)}, 'Saved.')})))));
    mutes.append(h('summary'), h('p', {class: 'hint', text: 'A muted job sends nothing here; the phones follow their own list.'}),
      jobNames.length ? checks : h('p', {class: 'muted', text: 'Jobs appear here once they have run.'}));

    const actions = h('div', {class: 'actions start'},
      h('button', {type: 'button', class: 'button', id: `${id}-test`, text: 'Send a test',
        onclick: (e) => {
          const btn = e.currentTarget;
          btn.disabled = true;
          run(status, () => api(path(ch.id, '/test'), {method: 'POST'}), () => testWords(ch))
            .finally(() => { btn.disabled = false; btn.focus(); });
        }}),
      h('button', {type: 'button', class: 'button danger', id: `${id}-remove`, text: 'Remove', onclick: () => ask(true)}));
    const question = h('p', {id: `${id}-q`, text: `Remove ${channelWords(ch)}? Nothing more is sent there.`});
    const confirm = h('div', {class: 'chan-confirm', role: 'group', 'aria-labelledby': question.id, hidden: true}, question,
      h('div', {class: 'actions start'},
        h('button', {type: 'button', class: 'button danger', id: `${id}-remove-yes`, text: 'Remove', onclick: remove}),
        h('button', {type: 'button', class: 'button', id: `${id}-remove-no`, text: 'Keep it', onclick: () => ask(false)})));

    function ask(on) {
      confirm.hidden = !on;
      actions.hidden = on;
      document.getElementById(on ? `${id}-remove-no` : `${id}-remove`).focus();
    }

    async function remove() {
      const gone = await run(status, () => api(path(ch.id), {method: 'DELETE'}).then(() => true), '');
      if (!gone) return;
      secrets.delete(ch.id);
      li.remove();
      note.textContent = `Removed ${channelWords(ch)}.`;
      showEmpty();
      heading();
    }

    li.append(...[
      h('h3', {id: `${id}-h`, tabindex: '-1', class: 'chan-name'}, h('span', {text: typeLabel(ch.type)}), ' · ',
        h('span', {data: destination(ch) || '—'})),
      summary, state, secrets.has(ch.id) && secretBox(id, secrets.get(ch.id)),
      h('div', {class: 'row chan-rule'}, h('label', {for: rule.id, text: 'Send'}), rule),
      mutes, actions, confirm, status].filter(Boolean));
    paint(ch);
    return li;
  }

  const form = addForm(async (body) => {
    const ch = await api(path(), {method: 'POST', body});
    const secret = fullSecret(ch);
    if (secret) secrets.set(ch.id, secret);
    const li = item(ch);
    list.append(li);
    showEmpty();
    note.textContent = ch.type === 'email' && !ch.verified
      ? `Added. Open the link sent to ${ch.address} to confirm it.` : `Added ${channelWords(ch)}.`;
    li.querySelector('h3').focus();
  });

  api(path()).then(({channels}) => {
    if (signal.aborted) return;
    list.replaceChildren(...channels.map(item));
    showEmpty();
    box.replaceChildren(list, empty, note, form);
  }).catch((e) => {
    if (signal.aborted) return;
    const text = e.status === 404 ? 'This server has no channels yet: update it to send alerts elsewhere.' : e.message;
    box.replaceChildren(h('p', {class: 'callout callout-warn', text}));
  });
}

// The webhook's one-time secret: read-only, with a Copy button.
function secretBox(id, secret) {
  const input = h('input', {type: 'text', id: `${id}-secret`, readonly: true, value: secret, spellcheck: 'false',
    autocomplete: 'off', 'aria-describedby': `${id}-secret-hint`});
  const said = h('p', {class: 'hint', role: 'status'});
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      said.textContent = 'Copied.';
    } catch {
      input.focus();
      input.select();
      said.textContent = 'Selected: copy it with your keyboard or the menu.';
    }
  };
  return h('div', {class: 'callout callout-warn chan-secret'},
    h('label', {for: input.id, text: 'Signing secret'}),
    h('div', {class: 'row'}, input, h('button', {type: 'button', class: 'button', text: 'Copy', onclick: copy})),
    h('p', {class: 'hint', id: `${id}-secret-hint`, text: 'Save it now: it is shown only once. Your receiver checks each alert\'s X-Observable-Signature with it.'}),
    said);
}

let uid = 0;

// "Add a channel": the type, its fields, the rule. Errors, the form's own
// or the server's, appear under the field they name, which takes the focus.
function addForm(add) {
  const values = {};
  const errors = new Map();
  const status = h('p', {class: 'form-status', role: 'status'});
  const field = (input, label, hintText) => {
    const hint = hintText ? h('p', {class: 'hint', id: `${input.id}-hint`, text: hintText}) : null;
    const err = h('p', {class: 'field-error', id: `${input.id}-err`, hidden: true});
    input.setAttribute('aria-describedby', [hint && hint.id, err.id].filter(Boolean).join(' '));
    errors.set(input.name, {input, err});
    return h('div', {class: 'field'}, h('label', {for: input.id, text: label}), input, hint, err);
  };
  const typeSel = h('select', {id: 'chan-type', name: 'type'}, TYPES.map((t) => h('option', {value: t.type, text: t.label})));
  const typeField = field(typeSel, 'Type', ' ');
  const typeHint = typeField.querySelector('.hint');
  const rule = ruleSelect('chan-new-rule', 'failures');
  const fields = h('div', {class: 'stack'});
  const ruleField = field(rule, 'Send', ruleHint('failures'));
  rule.addEventListener('change', () => { ruleField.querySelector('.hint').textContent = ruleHint(rule.value); });

  function drawFields() {
    for (const [name] of errors) if (name !== 'notify' && name !== 'type') errors.delete(name);
    const type = typeSel.value;
    typeHint.textContent = (TYPES.find((t) => t.type === type) || {}).hint || '';
    fields.replaceChildren(...fieldsOf(type).map((f) => {
      const input = h('input', {type: f.input, id: `chan-${f.name}-${++uid}`, name: f.name, value: values[f.name] || '',
        placeholder: f.placeholder, required: !!f.required, autocomplete: f.autocomplete || 'off', spellcheck: 'false',
        autocapitalize: 'off', inputmode: f.input === 'url' ? 'url' : null,
        oninput: () => { values[f.name] = input.value; },
      });
      return field(input, f.required ? f.label : `${f.label} (optional)`, f.hint);
    }));
  }

  function clear() {
    status.textContent = '';
    status.classList.remove('error');
    for (const {input, err} of errors.values()) {
      input.removeAttribute('aria-invalid');
      err.hidden = true;
      err.textContent = '';
    }
  }

  function showError(name, message) {
    const at = errors.get(name);
    if (!at) {
      status.classList.add('error');
      status.textContent = message;
      return;
    }
    at.err.textContent = message;
    at.err.hidden = false;
    at.input.setAttribute('aria-invalid', 'true');
    status.textContent = '';
    at.input.focus();
  }

  const submit = h('button', {type: 'submit', class: 'button primary', text: 'Add'});
  const form = h('form', {class: 'stack chan-add', novalidate: true, 'aria-labelledby': 'chan-add-h'},
    h('h3', {id: 'chan-add-h', text: 'Add a channel'}), typeField, fields, ruleField, status,
    h('div', {class: 'actions start'}, submit));
  typeSel.addEventListener('change', () => { clear(); drawFields(); });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clear();
    const type = typeSel.value;
    const bad = checkFields(type, values);
    if (bad) {
      showError(bad.field, bad.message);
      return;
    }
    submit.disabled = true;
    status.textContent = 'Adding…';
    try {
      await add(channelBody(type, values, rule.value));
      for (const k of Object.keys(values)) delete values[k];
      rule.value = 'failures';
      rule.dispatchEvent(new Event('change'));
      drawFields();
      status.textContent = '';
    } catch (err) {
      showError(err.field || '', err.message);
    } finally {
      submit.disabled = false;
    }
  });
  drawFields();
  return form;
}
