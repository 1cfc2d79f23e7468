// Builds elements from data. Strings only ever become text nodes, attribute
// values or textContent: event data never reaches an HTML parser (and the
// page's Trusted Types policy makes the browser refuse innerHTML anyway).
import {visible} from './format.js';

const SVG = 'http://www.w3.org/2000/svg';
// Properties set as DOM properties rather than attributes.
const PROPS = new Set(['value', 'checked', 'disabled', 'hidden', 'open', 'selected', 'defaultValue']);

function setProps(el, props) {
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'text') el.textContent = String(v);
    else if (k === 'data') continue;
    else if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (PROPS.has(k)) el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  // Text that came from event data (names, errors, hosts, metadata): its
  // invisible controls shown, its direction its own, and isolated so it
  // cannot reorder the text around it (CSS .ud: unicode-bidi: isolate).
  if (props && props.data != null) {
    el.textContent = visible(props.data);
    el.dir = 'auto';
    el.classList.add('ud');
  }
}

function add(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

/** h('p', {class: 'x'}, 'text', child) makes an HTML element. */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  add(el, children);
  return el;
}

/** s('rect', {x: 1}) makes an SVG element. */
export function s(tag, props, ...children) {
  const el = document.createElementNS(SVG, tag);
  setProps(el, props);
  add(el, children);
  return el;
}

const PATHS = {
  check: 'M5 12.5l4.5 4.5L19 7.5',
  cross: 'M7 7l10 10M17 7L7 17',
  dot: 'M12 9a3 3 0 1 0 0 6a3 3 0 1 0 0-6',
  back: 'M15 18l-6-6 6-6',
  chevron: 'M9 6l6 6-6 6',
  bell: 'M6 16V11a6 6 0 0 1 12 0v5l1.5 2h-15zM10 20.5a2 2 0 0 0 4 0',
};

/** icon('check') is a decorative SVG icon, hidden from screen readers. */
export function icon(name, cls) {
  return s('svg', {viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false', class: cls},
    s('path', {d: PATHS[name] || PATHS.dot}));
}

/** The page's polite live region: screen readers say msg once. */
export function announce(msg) {
  const el = document.getElementById('announce');
  if (!el) return;
  el.append(h('p', {text: msg}));
  while (el.childElementCount > 3) el.firstElementChild.remove();
}

/**
 * Replaces a screen's content once its data has arrived, handing focus to
 * the new heading if the old one had it (a screen takes focus at its h1).
 */
export function fill(root, ...nodes) {
  const active = document.activeElement;
  const hadFocus = active && active.tagName === 'H1' && root.contains(active);
  root.replaceChildren(...nodes);
  if (hadFocus) {
    const h1 = root.querySelector('h1');
    if (h1) h1.focus({preventScroll: true});
  }
}
