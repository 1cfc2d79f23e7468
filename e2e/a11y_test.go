package e2e

import "testing"

// contrastProbe measures, in the page, the contrast of every piece of
// visible text against the background it is drawn on (WCAG 2 formula), and
// finds controls without an accessible name.
const contrastProbe = `(() => {
  const parse = (c) => {
    const m = c.match(/rgba?\(([\d.]+)[, ]+([\d.]+)[, ]+([\d.]+)(?:[, /]+([\d.]+))?/);
    return m ? [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]] : [0, 0, 0, 0];
  };
  const over = (top, under) => top.slice(0, 3).map((v, i) => v * top[3] + under[i] * (1 - top[3])).concat(1);
  const background = (el) => {
    const layers = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] === 1) break;
    }
    let bg = [255, 255, 255, 1];
    if (layers.length && layers[layers.length - 1][3] === 1) bg = layers.pop();
    for (let i = layers.length - 1; i >= 0; i--) bg = over(layers[i], bg);
    return bg;
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const ratio = (a, b) => { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); };
  const bad = [];
  let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!n.textContent.trim() || seen.has(el) || el.closest('[hidden], .sr-only, noscript, dialog:not([open]), .skip, option')) continue;
    seen.add(el);
    const r = el.getBoundingClientRect();
    const cs = getComputedStyle(el);
    if (!r.width || !r.height || cs.visibility === 'hidden' || el.closest('button:disabled')) continue;
    const isSVG = el instanceof SVGElement;
    let fg = parse(isSVG ? cs.fill : cs.color);
    const bg = background(isSVG ? el.closest('svg').parentElement : el);
    fg = over(fg, bg);
    checked++;
    const c = ratio(fg, bg);
    if (c < 4.5) bad.push(el.tagName.toLowerCase() + '.' + (el.getAttribute('class') || '') + ' "' + n.textContent.trim().slice(0, 30) + '" ' + c.toFixed(2) + ':1');
  }
  const unnamed = [...document.querySelectorAll('button, input, select, textarea, a[href], [role=switch]')]
    .filter((el) => el.getClientRects().length && !el.closest('[hidden], dialog:not([open])'))
    .filter((el) => {
      const by = el.getAttribute('aria-labelledby');
      const name = el.getAttribute('aria-label') || (by && by.split(' ').map((id) => (document.getElementById(id) || {}).textContent || '').join(' ')) ||
        (el.labels && [...el.labels].map((l) => l.textContent).join(' ')) || el.textContent;
      return !(name || '').trim();
    })
    .map((el) => el.outerHTML.slice(0, 80));
  return {checked, bad, unnamed};
})()`

// checkContrast fails the test for text under 4.5:1 or an unnamed control.
func checkContrast(t *testing.T, p *phone, where string) {
	t.Helper()
	var res struct {
		Checked int
		Bad     []string
		Unnamed []string
	}
	p.js(contrastProbe, &res)
	if res.Checked < 5 {
		t.Errorf("%s: the contrast probe found only %d texts to check", where, res.Checked)
	}
	for _, b := range res.Bad {
		t.Errorf("%s: contrast under 4.5:1: %s", where, b)
	}
	for _, u := range res.Unnamed {
		t.Errorf("%s: control without an accessible name: %s", where, u)
	}
}
