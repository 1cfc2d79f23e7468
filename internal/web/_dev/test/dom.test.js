import assert from 'node:assert/strict';
import {test} from 'node:test';
import './fakedom.js';
import {h} from '../../static/dom.js';

test('data is shown as isolated text with its controls visible', () => {
  const el = h('p', {class: 'ev-name', data: 'deploy\u202Eod\u200B'});
  assert.equal(el.textContent, 'deploy⟨U+202E⟩od⟨U+200B⟩');
  assert.equal(el.getAttribute('dir'), 'auto');
  assert.equal(el.getAttribute('class'), 'ev-name ud', 'the .ud class isolates it (unicode-bidi: isolate)');
});

test('markup in data or text stays text', () => {
  const name = '<img src=x onerror=alert(1)>';
  assert.equal(h('p', {data: name}).textContent, name);
  assert.equal(h('p', {text: name}).textContent, name);
  assert.equal(h('p', null, name).childNodes[0].textContent, name);
});

test('null, false and missing values are left out', () => {
  const el = h('p', {title: null, hidden: false}, null, false, ['a', ['b']]);
  assert.equal(el.getAttribute('title'), null);
  assert.equal(el.textContent, 'ab');
});
