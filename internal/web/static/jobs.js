// Jobs: every job with its state, last status, success rate and typical
// duration, problems first; a job's page with its state, what is expected of
// it (jobmodel.js), a chart of its recent durations and its runs.
import {api, currentDevice, updateDevice} from './api.js';
import {announce, fill, h, icon} from './dom.js';
import {durationChart, MAX_BARS} from './chart.js';
import {errorLine, eventItem, pager, statusBadge, timeEl} from './events.js';
import {duration, percent, statusInfo, visible, whenOf} from './format.js';
import {throttle} from './lifecycle.js';
import {onLiveEvent} from './live.js';
import {Timeline} from './timeline.js';

const jobURL = (name) => `/jobs/${encodeURIComponent(name)}`;
const successRate = (j) => percent(j.runs - j.failures, j.runs);

// The job model's part of the screens, loaded when a jobs screen first
// opens rather than with the feed (the first load's budget).
let modelModule = null;
const loadModel = () => (modelModule ||= import('./jobmodel.js'));

// A job goes missed or overdue without an event to say so: while a jobs
// screen is in view, it is read again once a minute.
const REFRESH_MS = 60000;
function everyWhileShown(scope, fn) {
  const tick = () => scope.timeout(() => {
    if (document.visibilityState === 'visible') fn();
    tick();
  }, REFRESH_MS);
  tick();
}

/**
 * One job: GET /api/v1/jobs/{name} (contract v1.1) where the server has it,
 * else found in the list. Either way `last` is read for its status, time and
 * error only: list entries may come without metadata.
 */
async function loadJob(name) {
  try {
    const job = await api(`/api/v1/jobs/${encodeURIComponent(name)}`);
    if (job && job.name === name && job.last) {
      // The page reads its runs itself, page by page.
      delete job.recent;
      return job;
    }
  } catch (e) {
    if (e.status === 401) throw e;
  }
  const {jobs} = await api('/api/v1/jobs');
  return jobs.find((j) => j.name === name) || null;
}

export function jobsView(root, scope) {
  const {signal} = scope;
  const summary = h('p', {class: 'summary', role: 'status'});
  const list = h('ul', {class: 'jobs', 'aria-label': 'Jobs'});
  root.replaceChildren(h('h1', {tabindex: '-1', text: 'Jobs'}), summary, list);
  async function load() {
    try {
      const [{jobs}, m] = await Promise.all([api('/api/v1/jobs'), loadModel()]);
      if (signal.aborted) return;
      // Problems first (missed, overdue, failing): they are why the user
      // opened the app. Then the most recently run.
      jobs.sort(m.byProblem);
      const problems = jobs.filter((j) => m.stateInfo(m.stateOf(j)).problem).length;
      summary.textContent = jobs.length
        ? `${jobs.length} ${jobs.length === 1 ? 'job' : 'jobs'}${problems ? `, ${problems} with a problem now` : ', none with a problem'}`
        : '';
      list.replaceChildren(...jobs.map((j) => jobRow(j, m)));
      if (!jobs.length) list.replaceChildren(h('li', {class: 'empty', text: 'No jobs yet. Every name your code tracks becomes a job here, with its history.'}));
    } catch (e) {
      if (!signal.aborted) summary.textContent = e.message;
    } finally {
      root.removeAttribute('aria-busy');
    }
  }
  load();
  // Reloads at most once a second while live events pour in.
  scope.subscribe(onLiveEvent, throttle(scope, load, 1000));
  everyWhileShown(scope, load);
}

function jobRow(j, m) {
  const st = statusInfo(j.last.status);
  const typical = j.p50_ms != null ? ` · typically ${duration(j.p50_ms)}` : '';
  return h('li', {class: 'job', 'data-state': m.hasModel(j) ? j.state : null}, h('a', {href: jobURL(j.name)},
    statusBadge(j.last.status),
    h('div', null,
      h('p', {class: 'job-name', data: j.name}),
      h('p', {class: 'job-stats'}, m.hasModel(j) ? [m.statePill(j.state), ' '] : null, h('span', {class: `st-word ${st.cls}`, text: st.label}), ' ', timeEl(whenOf(j.last))),
      h('p', {class: 'job-stats', text: `${j.runs} ${j.runs === 1 ? 'run' : 'runs'} · ${successRate(j)} ok${typical}`})),
    icon('chevron', 'chev')));
}

export function jobView(root, scope) {
  const {arg: name, signal, navigate} = scope;
  const head = h('div', {class: 'run-head'}, h('h1', {tabindex: '-1', data: name}));
  const stats = h('dl', {class: 'stats'});
  const lastError = h('div', {class: 'last-error'});
  const chartBox = h('section', {class: 'chart-box', 'aria-labelledby': 'chart-h'},
    h('h2', {id: 'chart-h', text: 'Recent durations'}), h('p', {class: 'muted', text: 'Loading…'}));
  const stateBox = h('div', {class: 'model model-state'});
  const modelBox = h('div', {class: 'model'});
  const notify = h('div', {class: 'set'});
  const list = h('ol', {class: 'events', 'aria-label': `Runs of ${visible(name)}, newest first`});
  const footer = h('div');
  root.replaceChildren(
    h('a', {class: 'back', href: '/jobs'}, icon('back'), 'Jobs'),
    head, stateBox, stats, lastError, chartBox, modelBox, notify, h('h2', {text: 'Runs'}), list, footer);

  // The chart draws the newest MAX_BARS; the list holds at most runs.cap.
  const runs = new Timeline();
  let job = null;
  let model = null;
  const trim = () => {
    while (list.childElementCount > runs.cap) list.lastElementChild.remove();
  };
  const redrawChart = () => {
    const e = job && job.expect;
    chartBox.replaceChildren(chartBox.firstChild, durationChart(runs.newest(MAX_BARS), {
      p50: e && Number.isFinite(e.typical_ms) ? e.typical_ms : job && job.p50_ms,
      band: e && e.usual_ms, onPick: (seq) => navigate(`/runs/${seq}`),
    }));
  };
  const fillStats = () => {
    if (!job) return;
    const last = statusInfo(job.last.status);
    // Prepend, never re-insert the heading: moving it would drop its focus.
    const badge = head.querySelector('.st');
    if (badge) badge.remove();
    head.prepend(statusBadge(job.last.status));
    stats.replaceChildren(...[
      ['Last run', h('span', {class: `st-word ${last.cls}`, text: last.label})],
      ['Success', successRate(job)],
      ['Typical', job.p50_ms != null ? duration(job.p50_ms) : '–'],
      ['95% under', job.p95_ms != null ? duration(job.p95_ms) : '–'],
    ].map(([k, v]) => h('div', null, h('dt', {text: k}), h('dd', null, v))));
    lastError.replaceChildren(job.last.error ? h('p', {class: 'muted', text: 'Last error'}) : '', errorLine(job.last.error) || '');
    if (model) model.update(job);
  };
  // After a change made on this page (expectation, pause, snooze).
  const reload = async () => {
    const found = await loadJob(name);
    if (signal.aborted || !found) return null;
    job = found;
    fillStats();
    redrawChart();
    return job;
  };
  (async () => {
    try {
      const [page, found, m] = await Promise.all([
        api(`/api/v1/events?name=${encodeURIComponent(name)}&limit=${MAX_BARS}`), loadJob(name), loadModel()]);
      if (signal.aborted) return;
      job = found;
      model = m.jobModel(modelBox, {name, reload, stateBox});
      const first = runs.addOlder(page.events, page.next_before);
      if (!job && !runs.size) {
        fill(root, h('a', {class: 'back', href: '/jobs'}, icon('back'), 'Jobs'),
          h('h1', {tabindex: '-1', data: name}), h('p', {class: 'empty', text: 'No runs of this job are kept: it never ran, or its runs are older than the retention period.'}));
        return;
      }
      fillStats();
      redrawChart();
      list.append(...first.map((ev) => eventItem(ev, {jobLink: false})));
      scope.onCleanup(pager(footer, async () => {
        if (runs.full) return `This page keeps the newest ${runs.cap} runs; the feed's job filter shows older ones.`;
        const more = await api(`/api/v1/events?name=${encodeURIComponent(name)}&limit=50&before=${runs.next}`);
        if (signal.aborted) return false;
        list.append(...runs.addOlder(more.events, more.next_before).map((ev) => eventItem(ev, {jobLink: false})));
        return runs.next != null;
      }, runs.next != null));
    } catch (e) {
      if (!signal.aborted) chartBox.replaceChildren(h('p', {class: 'callout callout-warn', role: 'alert', text: e.message}));
    } finally {
      root.removeAttribute('aria-busy');
    }
  })();
  muteSwitch(notify, name);

  const refreshStats = throttle(scope, () => loadJob(name).then((found) => {
    if (signal.aborted) return;
    job = found;
    fillStats();
    redrawChart();
  }, () => {}), 1000);
  everyWhileShown(scope, refreshStats);
  scope.subscribe(onLiveEvent, (ev) => {
    if (ev.name !== name || !runs.addNewest(ev)) return;
    list.prepend(eventItem(ev, {fresh: true, jobLink: false}));
    trim();
    redrawChart();
    refreshStats();
    announce(`New run of ${visible(name)}: ${statusInfo(ev.status).label}`);
  });
}

// Notifications for this job, the per-job side of the muted list in Settings.
function muteSwitch(box, name) {
  const device = currentDevice();
  if (!device) return;
  const note = h('p', {class: 'hint', role: 'status'});
  const sw = h('button', {type: 'button', class: 'switch', role: 'switch', 'aria-labelledby': 'mute-label'});
  const show = (d) => sw.setAttribute('aria-checked', String(!d.muted.includes(name)));
  show(device);
  sw.addEventListener('click', async () => {
    const d = currentDevice();
    const muted = d.muted.includes(name) ? d.muted.filter((m) => m !== name) : [...d.muted, name];
    sw.disabled = true;
    try {
      show(await updateDevice({muted}));
      note.textContent = muted.includes(name) ? 'Muted: this job never notifies this phone.' : 'This job notifies this phone again.';
    } catch (e) {
      note.textContent = e.message;
    } finally {
      sw.disabled = false;
    }
  });
  box.replaceChildren(h('div', {class: 'switch-row'}, h('span', {id: 'mute-label', text: 'Notifications from this job'}), sw), note);
}
