// An event as a card: status at a glance (colour, icon and word), name,
// when, how long, the error's first line; tapping it shows the metadata.
import {h, icon} from './dom.js';
import {absTime, duration, firstLine, relTime, statusInfo, valueText, whenOf} from './format.js';

export function statusBadge(status) {
  const st = statusInfo(status);
  return h('span', {class: `st ${st.cls}`}, icon(st.icon));
}

export function timeEl(iso) {
  return h('time', {datetime: iso, 'data-rel': '', title: absTime(iso), text: relTime(iso)});
}

export function errorLine(err) {
  if (!err) return null;
  const msg = firstLine(err.message);
  return h('p', {class: 'ev-error'}, h('b', {data: err.type || 'Error'}), msg ? [': ', h('span', {data: msg})] : '');
}

export function eventItem(ev, {fresh = false, jobLink = true} = {}) {
  const st = statusInfo(ev.status);
  const when = whenOf(ev);
  const meta = [h('span', {class: `st-word ${st.cls}`, text: st.label})];
  if (ev.duration_ms != null) meta.push(ev.status === 'failed' ? ` after ${duration(ev.duration_ms)}` : ` in ${duration(ev.duration_ms)}`);
  meta.push(' · ', timeEl(when));
  const more = h('div', {class: 'ev-more'});
  const details = h('details', null,
    h('summary', null, statusBadge(ev.status), h('div', {class: 'ev-main'},
      h('p', {class: 'ev-name', data: ev.name}),
      h('p', {class: 'ev-meta'}, meta),
      errorLine(ev.error))),
    more);
  // Built on first open: long lists stay light.
  details.addEventListener('toggle', () => {
    if (details.open && !more.hasChildNodes()) more.append(...eventDetails(ev, jobLink).flat());
  });
  return h('li', {class: fresh ? 'ev ev-new' : 'ev', 'data-seq': ev.seq}, details);
}

function eventDetails(ev, jobLink) {
  const rows = [['When', absTime(whenOf(ev))]];
  if (ev.timestamp && Math.abs(Date.parse(ev.received_at) - Date.parse(ev.timestamp)) > 1500) {
    rows.push(['Received', absTime(ev.received_at)]);
  }
  if (ev.duration_ms != null) rows.push(['Duration', duration(ev.duration_ms)]);
  if (ev.source && ev.source.host) rows.push(['Host', String(ev.source.host)]);
  const md = ev.metadata;
  const mdRows = md && typeof md === 'object' && !Array.isArray(md)
    ? Object.entries(md).map(([k, v]) => [k, valueText(v)])
    : md != null ? [['metadata', valueText(md)]] : [];
  return [
    kv(rows),
    mdRows.length ? [h('p', {class: 'muted', text: 'Metadata'}), kv(mdRows)] : h('p', {class: 'muted', text: 'No metadata.'}),
    h('p', {class: 'row'},
      h('a', {class: 'button', href: `/runs/${ev.seq}`, text: 'Open run'}),
      jobLink ? h('a', {class: 'button', href: `/jobs/${encodeURIComponent(ev.name)}`, text: 'Job history'}) : null),
  ];
}

/** A list of facts; keys and values may be event data, so both are shown as data. */
export function kv(rows, cls = 'kv') {
  return h('dl', {class: cls}, rows.map(([k, v]) => [h('dt', {data: k}), h('dd', {data: v})]));
}

/**
 * A "Load older" button at the end of a list that presses itself when it
 * scrolls into view. load() fetches the next page and says whether there
 * are more: true, false, or why it stops (a sentence shown at the end).
 * Returns the function that stops it.
 */
export function pager(footer, load, hasMore) {
  const button = h('button', {class: 'button block', type: 'button', text: 'Load older events'});
  const note = h('p', {class: 'list-end', role: 'status'});
  let busy = false;
  let done = !hasMore;
  const show = () => {
    button.hidden = done;
    button.disabled = busy;
    button.textContent = busy ? 'Loading…' : 'Load older events';
  };
  let io = null;
  async function more() {
    if (busy || done) return;
    busy = true;
    note.textContent = '';
    show();
    let loaded = false;
    try {
      const answer = await load();
      done = answer !== true;
      loaded = true;
      if (done) note.textContent = typeof answer === 'string' ? answer : 'That is the first event kept.';
    } catch (e) {
      note.textContent = e.message;
    } finally {
      busy = false;
      show();
    }
    // The observer reports changes only: if the button is still (or again)
    // in view after the new page, observing anew makes it say so.
    if (loaded && !done && io) {
      io.unobserve(button);
      io.observe(button);
    }
  }
  button.addEventListener('click', more);
  io = new IntersectionObserver((entries) => {
    if (entries.some((e) => e.isIntersecting)) more();
  }, {rootMargin: '300px'});
  io.observe(button);
  footer.replaceChildren(button, note);
  show();
  return () => io.disconnect();
}
