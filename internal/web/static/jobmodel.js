// The job page's model part: its state and open incident, its expectation in
// words with an editor, pause and snooze, and its incident history. jobs.js
// imports this only when a jobs screen opens, so the feed's first load stays
// small. Everything here needs a server with the job model (a JOB with
// `state`); without one the page shows what it showed before.
import {api} from './api.js';
import {h} from './dom.js';
import {timeEl} from './events.js';
import {
  buildExpect, declared, expectDetails, expectWords, formValues, incidentWords, kindWords,
  snoozeWords, sourceWords, stateInfo, stateOf,
} from './expect.js';

export {byProblem, stateInfo, stateOf} from './expect.js';

/** The state as a word on a coloured pill (never colour alone). */
export function statePill(state) {
  const st = stateInfo(state);
  return h('span', {class: `jstate ${st.cls}`, text: st.label});
}

export const hasModel = (job) => !!job && typeof job.state === 'string';

// replaceChildren would show a null as the text "null".
const put = (el, ...kids) => el.replaceChildren(...kids.filter((k) => k != null && k !== false));

const patch = (name, body) => api(`/api/v1/jobs/${encodeURIComponent(name)}`, {method: 'PATCH', body});

/**
 * Renders the model part of one job, its state and open incident into
 * stateBox and the rest into box, and keeps it current:
 * update(job) redraws it, except an editor being typed in. reload() is
 * called after every change the user makes, to read the job again.
 */
export function jobModel(box, {name, reload, stateBox}) {
  let job = null;
  let editing = null;
  const note = h('p', {class: 'hint', role: 'status', id: 'model-note'});
  const expectNote = h('p', {class: 'hint', role: 'status', id: 'expect-note'});
  const state = stateBox;
  const expectBox = h('section', {class: 'jm-box', 'aria-labelledby': 'expect-h'});
  const controls = h('section', {class: 'jm-box', 'aria-labelledby': 'alerts-h'});
  const history = h('section', {'aria-labelledby': 'incidents-h'});

  // A change: the call, then the job read again; the button that was
  // tapped keeps the focus (by id) across the redraw. done is what to say
  // then, or a function of the job read again. Answers '' or what went wrong.
  async function change(body, done, btn, where = note) {
    const id = btn && btn.id;
    if (btn) btn.disabled = true;
    where.textContent = 'Saving…';
    try {
      await patch(name, body);
      const after = await reload();
      where.textContent = typeof done === 'function' ? done(after || job) : done;
      return '';
    } catch (e) {
      where.textContent = e.message;
      return e.message;
    } finally {
      if (btn) btn.disabled = false;
      const again = id && document.getElementById(id);
      if (again && btn && document.activeElement !== again && (document.activeElement === document.body || !document.activeElement)) again.focus();
    }
  }

  function drawState() {
    const st = stateInfo(stateOf(job));
    const inc = job.incident;
    const snooze = snoozeWords(job.snoozed_until);
    put(state,
      h('p', {class: 'state-line'}, 'State: ', statePill(st.state)),
      inc ? h('p', {class: `callout ${st.problem ? 'callout-warn' : ''}`, role: 'note'},
        h('b', {text: kindWords(inc.kind)}), ' since ', timeEl(inc.opened_at),
        incidentWords(inc) ? ` · ${incidentWords(inc)}` : '') : null,
      snooze ? h('p', {class: 'hint', text: `${snooze}: no alerts until then.`}) : null);
  }

  function drawExpect() {
    const e = job.expect || null;
    const details = expectDetails(e);
    const kids = [h('h2', {id: 'expect-h', text: 'What is expected'}),
      h('p', {class: 'expect-words', text: e ? capital(expectWords(e)) : expectWords(e)}),
      e && e.source ? h('p', {class: 'hint expect-source', text: sourceWords(e.source)}) : null,
      details.length ? h('p', {class: 'hint', text: capital(details.join(', '))}) : null,
      e && e.next_due_at ? h('p', {class: 'hint'}, 'Next run due ', timeEl(e.next_due_at)) : null];
    if (editing) {
      kids.push(editing);
    } else {
      kids.push(h('div', {class: 'actions start'},
        h('button', {type: 'button', class: 'button', id: 'expect-edit', text: e ? 'Change' : 'Set what to expect', onclick: openEditor}),
        e && e.source === 'learned' ? h('button', {type: 'button', class: 'button', id: 'expect-confirm', text: 'Use what was learned',
          onclick: (ev) => change({expect: declared(e)}, 'Saved: this is now what you expect of it.', ev.currentTarget, expectNote)}) : null,
        // null removes the user's own (a setting or "off"): what was learned
        // or declared in code applies again.
        e && e.source === 'user' ? h('button', {type: 'button', class: 'button', id: 'expect-reset',
          text: e.off ? 'Watch it again' : 'Go back to what was learned',
          onclick: (ev) => change({expect: null}, resetWords, ev.currentTarget, expectNote)}) : null,
        e && !e.off ? h('button', {type: 'button', class: 'button', id: 'expect-off', text: 'Turn off',
          onclick: (ev) => change({expect: {off: true}}, 'Turned off: no missed, late or slow runs are looked for. Failed runs still alert.',
            ev.currentTarget, expectNote)}) : null));
    }
    kids.push(expectNote);
    put(expectBox, ...kids);
  }

  function openEditor() {
    editing = editor(job.expect, {
      save: async (expect) => {
        const failed = await change({expect}, 'Saved: this is now what you expect of it.', null, expectNote);
        if (!failed) closeEditor();
        return failed;
      },
      cancel: closeEditor,
    });
    drawExpect();
    editing.querySelector('input:checked').focus();
  }

  function closeEditor() {
    editing = null;
    drawExpect();
    const btn = document.getElementById('expect-edit');
    if (btn) btn.focus();
  }

  function drawControls() {
    const paused = job.state === 'paused' || job.paused === true;
    put(controls, h('h2', {id: 'alerts-h', text: 'Alerts'}),
      h('div', {class: 'actions start'},
        h('button', {type: 'button', class: 'button', id: 'job-pause', 'aria-pressed': String(paused),
          text: paused ? 'Resume' : 'Pause',
          onclick: (ev) => change({paused: !paused}, paused ? 'Resumed: it alerts again.' : 'Paused: it alerts nothing until you resume it.', ev.currentTarget)}),
        h('button', {type: 'button', class: 'button', id: 'snooze-1h', text: 'Snooze 1 hour',
          onclick: (ev) => change({snooze_s: 3600}, 'Snoozed for an hour.', ev.currentTarget)}),
        h('button', {type: 'button', class: 'button', id: 'snooze-1d', text: 'Snooze 1 day',
          onclick: (ev) => change({snooze_s: 86400}, 'Snoozed for a day.', ev.currentTarget)}),
        snoozeWords(job.snoozed_until) ? h('button', {type: 'button', class: 'button', id: 'snooze-end', text: 'End the snooze',
          onclick: (ev) => change({snooze_s: 0}, 'The snooze is over: it alerts again.', ev.currentTarget)}) : null),
      note);
  }

  function drawHistory() {
    const list = Array.isArray(job.incidents) ? job.incidents : [];
    if (!list.length) {
      put(history, h('h2', {id: 'incidents-h', text: 'Incidents'}),
        h('p', {class: 'muted', text: 'No incidents yet.'}));
      return;
    }
    put(history, h('h2', {id: 'incidents-h', text: 'Incidents'}),
      h('ol', {class: 'incidents', 'aria-label': 'Incidents, newest first'}, ...list.map((inc) => h('li', {class: inc.closed_at ? 'inc' : 'inc inc-open'},
        h('p', {class: 'inc-kind'}, h('b', {text: kindWords(inc.kind)}), inc.closed_at ? ' · resolved' : ' · open'),
        h('p', {class: 'hint'}, timeEl(inc.opened_at), incidentWords(inc) ? ` · ${incidentWords(inc)}` : '')))));
  }

  return {
    update(next) {
      job = next;
      if (!hasModel(job)) {
        box.replaceChildren();
        state.replaceChildren();
        return;
      }
      // A redraw (a live run, a change) must not take the focus from the
      // control a keyboard user is on: its new copy gets it back, by id.
      const active = document.activeElement;
      const focused = active && active.id && box.contains(active) && !(editing && editing.contains(active)) ? active.id : '';
      drawState();
      drawExpect();
      drawControls();
      drawHistory();
      if (!box.childElementCount) box.append(expectBox, controls, history);
      const again = focused && document.getElementById(focused);
      if (again && again !== document.activeElement) again.focus({preventScroll: true});
    },
  };
}

const capital = (t) => t.charAt(0).toUpperCase() + t.slice(1);

// After removing the user's own: what applies now, as the server says.
function resetWords(job) {
  const e = job && job.expect;
  if (!e) return 'Yours is removed. Nothing is learned yet: only failed runs alert.';
  return `Yours is removed: it follows what is ${e.source === 'code' ? 'declared in its code' : 'learned from its runs'} again.`;
}

let uid = 0;

// The expectation editor: a form every control of which has a label, in the
// order it reads; Enter saves, Escape cancels.
function editor(current, {save, cancel}) {
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  const v = formValues(current, zone);
  const id = (k) => `ed-${k}-${++uid}`;
  const field = (label, input, hint) => {
    input.id = input.id || id(input.name);
    return h('div', {class: 'field'}, h('label', {for: input.id, text: label}), input, hint ? h('p', {class: 'hint', text: hint}) : null);
  };
  const radio = (value, label) => h('label', {class: 'choice'},
    h('input', {type: 'radio', name: 'kind', value, checked: v.kind === value}), h('b', {text: label}));
  const n = h('input', {type: 'number', name: 'n', min: '1', step: '1', inputmode: 'numeric', value: v.n});
  const unit = h('select', {name: 'unit', 'aria-label': 'Unit'},
    ...['minutes', 'hours', 'days'].map((u) => h('option', {value: u, selected: v.unit === u, text: u})));
  n.id = id('n');
  const everyBox = h('div', {class: 'field'}, h('label', {for: n.id, text: 'Every'}), h('div', {class: 'row'}, n, unit));
  const cronBox = h('div', {class: 'stack'},
    field('Cron line', h('input', {type: 'text', name: 'cron', value: v.cron, placeholder: '0 3 * * *', autocomplete: 'off', spellcheck: 'false'}),
      'minute hour day-of-month month day-of-week'),
    field('Time zone', h('input', {type: 'text', name: 'tz', value: v.tz, autocomplete: 'off', spellcheck: 'false'})));
  const status = h('p', {class: 'form-status', role: 'alert'});
  const form = h('form', {class: 'stack editor', 'aria-label': 'What to expect of this job', novalidate: true},
    h('fieldset', null, h('legend', {text: 'When it runs'}), radio('every', 'Every so often'), radio('cron', 'On a cron schedule')),
    everyBox, cronBox,
    field('Grace', h('input', {type: 'text', name: 'grace', value: v.grace, placeholder: 'e.g. 15m', autocomplete: 'off'}),
      'How late a run may start before it counts as missed. Empty: learned from the job.'),
    field('Longest run', h('input', {type: 'text', name: 'max', value: v.max, placeholder: 'e.g. 1h', autocomplete: 'off'}),
      'A run still going after this is overdue. Empty: learned.'),
    field('Shortest run', h('input', {type: 'text', name: 'min', value: v.min, placeholder: 'e.g. 30s', autocomplete: 'off'}),
      'A run that ends sooner is too fast (a backup done in 0.2 s did nothing). Empty: learned.'),
    field('Alert after', h('input', {type: 'number', name: 'alertAfter', min: '1', max: '100', step: '1', inputmode: 'numeric', value: v.alertAfter}),
      'failed runs in a row'),
    status,
    h('div', {class: 'actions start'},
      h('button', {type: 'submit', class: 'button primary', text: 'Save'}),
      h('button', {type: 'button', class: 'button', text: 'Cancel', onclick: cancel})));
  const show = () => {
    const cron = form.elements.kind.value === 'cron';
    everyBox.hidden = cron;
    cronBox.hidden = !cron;
  };
  form.addEventListener('change', show);
  form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      cancel();
    }
  });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const values = Object.fromEntries(['kind', 'n', 'unit', 'cron', 'tz', 'grace', 'max', 'min', 'alertAfter'].map((k) => [k, form.elements[k].value]));
    for (const el of form.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
    const built = buildExpect(values);
    if (built.error) {
      status.textContent = built.error;
      const bad = form.elements[built.field];
      if (bad) {
        bad.setAttribute('aria-invalid', 'true');
        bad.focus();
      }
      return;
    }
    status.textContent = 'Saving…';
    save(built.expect).then((failed) => {
      status.textContent = failed || '';
    });
  });
  show();
  return form;
}
