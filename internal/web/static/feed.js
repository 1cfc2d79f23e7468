// The feed: the session's events, newest first, live, filterable by status
// and job, with older events loaded on scroll. It holds at most CAP events:
// live ones push the oldest out, so an app left open for days stays light.
import {api} from './api.js';
import {announce, h} from './dom.js';
import {eventItem, pager} from './events.js';
import {statusInfo, visible} from './format.js';
import {onLiveEvent} from './live.js';
import {CAP, Timeline} from './timeline.js';

const PAGE = 50;
const FULL = `The feed keeps the newest ${CAP} events. Filter by status or job to see older ones.`;

// The unfiltered timeline outlives the screen, so coming back is instant;
// live events join it while other screens show.
const timeline = new Timeline();
let loaded = false;

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
  timeline.clear();
  timeline.addOlder(page.events, page.next_before);
  loaded = true;
  return page.events.length ? page.events[0].seq : 0;
}

export function resetTimeline() {
  timeline.clear();
  loaded = false;
}

onLiveEvent((ev) => {
  if (loaded) timeline.addNewest(ev);
});

const STATUSES = [['', 'All'], ['failed', 'Failed'], ['completed', 'Completed']];

export function feedView(root, scope) {
  const {params, navigate, signal} = scope;
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
    job ? h('option', {value: job, data: job, selected: true}) : null);
  const list = h('ol', {class: 'events', 'aria-label': 'Events, newest first'});
  const footer = h('div');
  const empty = h('div', {hidden: true});
  root.replaceChildren(
    h('h1', {tabindex: '-1', text: 'Feed'}),
    h('div', {class: 'filters'}, chips, h('div', {class: 'filter-job'}, h('label', {for: 'filter-job', text: 'Job'}), select)),
    empty, list, footer);

  // The list shows what `data` holds: the same events, the same cap.
  const data = filtered ? new Timeline() : timeline;
  const shown = new Set();
  const append = (events) => {
    for (const ev of events) {
      if (shown.has(ev.seq)) continue;
      shown.add(ev.seq);
      list.append(eventItem(ev));
    }
  };
  const trim = () => {
    while (list.childElementCount > data.cap) {
      const li = list.lastElementChild;
      shown.delete(Number(li.dataset.seq));
      li.remove();
    }
  };

  const matches = (ev) => (!status || ev.status === status) && (!job || ev.name === job);
  scope.subscribe(onLiveEvent, (ev) => {
    if (!matches(ev) || shown.has(ev.seq)) return;
    // The unfiltered timeline took the event already (its own listener).
    if (data !== timeline) data.addNewest(ev);
    shown.add(ev.seq);
    empty.hidden = true;
    list.prepend(eventItem(ev, {fresh: true}));
    trim();
    announce(`New event: ${visible(ev.name)}, ${statusInfo(ev.status).label}`);
  });

  (async () => {
    try {
      if (filtered) {
        const page = await api(eventsURL({status, name: job}));
        data.addOlder(page.events, page.next_before);
      } else if (!loaded) {
        await loadTimeline();
      }
      if (signal.aborted) return;
      append(data.newest());
      showEmpty(empty, shown.size === 0, filtered, status, job);
      scope.onCleanup(pager(footer, async () => {
        if (data.full) return FULL;
        const page = await api(eventsURL({status, name: job, before: data.next}));
        if (signal.aborted) return false;
        append(data.addOlder(page.events, page.next_before));
        if (data.next == null) return false;
        return data.full ? FULL : true;
      }, data.next != null));
    } catch (e) {
      if (!signal.aborted) footer.replaceChildren(h('p', {class: 'callout callout-warn', role: 'alert', text: e.message}));
    } finally {
      root.removeAttribute('aria-busy');
    }
  })();

  api('/api/v1/jobs').then(({jobs}) => {
    if (signal.aborted) return;
    for (const name of jobs.map((j) => j.name).sort((a, b) => a.localeCompare(b))) {
      if (name !== job) select.append(h('option', {value: name, data: name}));
    }
  }, () => {});
}

function showEmpty(el, isEmpty, filtered, status, job) {
  el.hidden = !isEmpty;
  if (!isEmpty) return;
  if (filtered) {
    const what = [status && statusInfo(status).label.toLowerCase(), 'events'].filter(Boolean).join(' ');
    el.replaceChildren(h('p', {class: 'empty'}, `No ${what}`, job ? [' of ', h('span', {data: job})] : '',
      ' yet. New ones appear here as they happen.'));
    return;
  }
  el.replaceChildren(h('div', {class: 'empty'},
    h('p', null, h('strong', {text: 'No events yet.'}), ' They appear here the moment your code sends them, like this:'),
    h('pre', null, h('code', {text: 'import observable\n\nwith observable.track("nightly_sync"):\n    sync()'}))));
}
