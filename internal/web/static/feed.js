// The feed: the session's events, newest first, live, filterable by status
// and job, with older events loaded on scroll.
import {api} from './api.js';
import {announce, h} from './dom.js';
import {eventItem, pager} from './events.js';
import {statusInfo} from './format.js';
import {onLiveEvent} from './live.js';

const PAGE = 50;

// The unfiltered timeline outlives the screen, so coming back is instant;
// live events join it while other screens show.
const timeline = {events: [], next: null, loaded: false};

function eventsURL({status, name, before}) {
  const q = new URLSearchParams({limit: String(PAGE)});
  if (status) q.set('status', status);
  if (name) q.set('name', name);
  if (before) q.set('before', String(before));
  return `/api/v1/events?${q}`;
}

/** Loads the newest page; returns the newest seq (0 when there is none). */
export async function loadTimeline() {
  const page = await api(eventsURL({}));
  timeline.events = page.events;
  timeline.next = page.next_before;
  timeline.loaded = true;
  return page.events.length ? page.events[0].seq : 0;
}

export function resetTimeline() {
  timeline.events = [];
  timeline.next = null;
  timeline.loaded = false;
}

onLiveEvent((ev) => {
  if (timeline.loaded && !timeline.events.some((e) => e.seq === ev.seq)) timeline.events.unshift(ev);
});

const STATUSES = [['', 'All'], ['failed', 'Failed'], ['completed', 'Completed']];

export function feedView(root, {params, navigate, signal}) {
  const status = params.get('status') || '';
  const job = params.get('job') || '';
  const filtered = Boolean(status || job);
  const setFilter = (key, value) => {
    const q = new URLSearchParams(params);
    if (value) q.set(key, value);
    else q.delete(key);
    navigate(q.size ? `/?${q}` : '/', {replace: true, keepFocus: true});
  };

  const chips = h('div', {class: 'chips', role: 'group', 'aria-label': 'Show events by status'},
    STATUSES.map(([value, label]) => h('button', {
      type: 'button', 'aria-pressed': String(status === value), text: label,
      onclick: () => setFilter('status', value),
    })));
  const select = h('select', {id: 'filter-job', onchange: (e) => setFilter('job', e.target.value)},
    h('option', {value: '', text: 'All jobs'}),
    job ? h('option', {value: job, text: job, selected: true}) : null);
  const list = h('ol', {class: 'events', 'aria-label': 'Events, newest first'});
  const footer = h('div');
  const empty = h('div', {hidden: true});
  root.replaceChildren(
    h('h1', {tabindex: '-1', text: 'Feed'}),
    h('div', {class: 'filters'}, chips, h('div', {class: 'filter-job'}, h('label', {for: 'filter-job', text: 'Job'}), select)),
    empty, list, footer);

  const shown = new Set();
  const append = (events) => {
    for (const ev of events) {
      if (shown.has(ev.seq)) continue;
      shown.add(ev.seq);
      list.append(eventItem(ev));
    }
  };
  let data = timeline;
  let stopPager = () => {};

  const matches = (ev) => (!status || ev.status === status) && (!job || ev.name === job);
  const unsubscribe = onLiveEvent((ev) => {
    if (!matches(ev) || shown.has(ev.seq)) return;
    if (data !== timeline) data.events.unshift(ev);
    shown.add(ev.seq);
    empty.hidden = true;
    list.prepend(eventItem(ev, {fresh: true}));
    announce(`New event: ${ev.name}, ${statusInfo(ev.status).label}`);
  });

  (async () => {
    try {
      if (filtered) {
        data = {events: [], next: null};
        const page = await api(eventsURL({status, name: job}));
        data.events.push(...page.events);
        data.next = page.next_before;
      } else if (!timeline.loaded) {
        await loadTimeline();
      }
      if (signal.aborted) return;
      append(data.events);
      showEmpty(empty, shown.size === 0, filtered, status, job);
      stopPager = pager(footer, async () => {
        const page = await api(eventsURL({status, name: job, before: data.next}));
        if (signal.aborted) return false;
        data.events.push(...page.events);
        data.next = page.next_before;
        append(page.events);
        return data.next != null;
      }, data.next != null);
    } catch (e) {
      if (!signal.aborted) footer.replaceChildren(h('p', {class: 'callout callout-warn', role: 'alert', text: e.message}));
    } finally {
      root.removeAttribute('aria-busy');
    }
  })();

  api('/api/v1/jobs').then(({jobs}) => {
    if (signal.aborted) return;
    for (const name of jobs.map((j) => j.name).sort((a, b) => a.localeCompare(b))) {
      if (name !== job) select.append(h('option', {value: name, text: name}));
    }
  }, () => {});

  return () => {
    unsubscribe();
    stopPager();
  };
}

function showEmpty(el, isEmpty, filtered, status, job) {
  el.hidden = !isEmpty;
  if (!isEmpty) return;
  if (filtered) {
    const what = [status && statusInfo(status).label.toLowerCase(), 'events', job && `of ${job}`].filter(Boolean).join(' ');
    el.replaceChildren(h('p', {class: 'empty', text: `No ${what} yet. New ones appear here as they happen.`}));
    return;
  }
  el.replaceChildren(h('div', {class: 'empty'},
    h('p', null, h('strong', {text: 'No events yet.'}), ' They appear here the moment your code sends them, like this:'),
    h('pre', null, h('code', {text: 'import observable\n\nwith observable.track("nightly_sync"):\n    sync()'}))));
}
