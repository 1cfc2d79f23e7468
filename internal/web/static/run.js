// One run in full: status, times, the whole error with its traceback,
// metadata and where it ran.
import {api} from './api.js';
import {fill, h, icon} from './dom.js';
import {kv, statusBadge, timeEl} from './events.js';
import {absTime, duration, statusInfo, valueText, visible, whenOf} from './format.js';

export function runView(root, {arg: seq, signal}) {
  const back = h('a', {class: 'back', href: '/', 'data-back': ''}, icon('back'), 'Back');
  root.replaceChildren(back, h('h1', {tabindex: '-1', text: `Run ${seq}`}), h('p', {class: 'loading', text: 'Loading…'}));
  (async () => {
    try {
      const ev = await api(`/api/v1/events/${seq}`);
      if (signal.aborted) return;
      document.title = `${visible(ev.name)} · Observable Code`;
      fill(root, back, ...runParts(ev));
    } catch (e) {
      if (signal.aborted) return;
      const gone = e.status === 404;
      fill(root, back, h('h1', {tabindex: '-1', text: gone ? 'This run is not kept' : `Run ${seq}`}),
        h('p', {class: gone ? 'empty' : 'callout callout-warn', role: 'alert',
          text: gone ? 'This session has no such run: runs older than the retention period are deleted.' : e.message}));
    } finally {
      root.removeAttribute('aria-busy');
    }
  })();
}

function runParts(ev) {
  const st = statusInfo(ev.status);
  const when = whenOf(ev);
  const facts = [
    ['Status', st.label],
    ['When', absTime(when)],
  ];
  if (ev.duration_ms != null) facts.push(['Duration', duration(ev.duration_ms)]);
  if (ev.timestamp) facts.push(['Received', absTime(ev.received_at)]);
  facts.push(['Run', `#${ev.seq}${ev.id ? ` (id ${ev.id})` : ''}`]);
  const parts = [
    h('div', {class: 'run-head'}, statusBadge(ev.status), h('h1', {tabindex: '-1', data: ev.name})),
    h('p', {class: 'ev-meta'}, h('span', {class: `st-word ${st.cls}`, text: st.label}),
      ev.duration_ms != null ? ` ${ev.status === 'failed' ? 'after' : 'in'} ${duration(ev.duration_ms)}` : '', ' · ', timeEl(when)),
  ];
  if (ev.error) {
    parts.push(h('section', {class: 'panel', 'aria-labelledby': 'err-h'},
      h('h2', {id: 'err-h', text: 'Error'}),
      h('p', {class: 'err-type', data: ev.error.type || 'Error'}),
      ev.error.message ? h('p', {class: 'err-msg', data: ev.error.message}) : null,
      ev.error.traceback ? h('pre', {class: 'trace', tabindex: '0', 'aria-label': 'Traceback', data: ev.error.traceback}) : null));
  }
  parts.push(h('section', {class: 'panel', 'aria-labelledby': 'facts-h'}, h('h2', {id: 'facts-h', text: 'Details'}), kv(facts, 'kv kv-plain')));
  const md = ev.metadata;
  parts.push(h('section', {class: 'panel', 'aria-labelledby': 'md-h'}, h('h2', {id: 'md-h', text: 'Metadata'}),
    md == null ? h('p', {class: 'muted', text: 'None.'})
      : typeof md === 'object' && !Array.isArray(md) ? kv(Object.entries(md).map(([k, v]) => [k, valueText(v)]))
        : h('pre', {data: valueText(md)})));
  if (ev.source && typeof ev.source === 'object') {
    parts.push(h('section', {class: 'panel', 'aria-labelledby': 'src-h'}, h('h2', {id: 'src-h', text: 'Ran on'}),
      kv(Object.entries(ev.source).map(([k, v]) => [k, valueText(v)]))));
  }
  parts.push(h('p', null, h('a', {class: 'button', href: `/jobs/${encodeURIComponent(ev.name)}`}, 'All runs of ', h('span', {data: ev.name}))));
  return parts;
}
