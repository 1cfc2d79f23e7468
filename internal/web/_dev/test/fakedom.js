// Just enough of a DOM for dom.js and chart.js to build elements under
// Node: elements with attributes, children, text and listeners. Importing
// it installs `document` and `Node` as globals.
class FakeNode {}

class FakeText extends FakeNode {
  constructor(text) {
    super();
    this.data = text;
  }

  get textContent() {
    return this.data;
  }
}

class FakeElement extends FakeNode {
  constructor(tag, ns = null) {
    super();
    this.tagName = tag.toUpperCase();
    this.namespaceURI = ns;
    this.attributes = new Map();
    this.childNodes = [];
    this.listeners = [];
    this.classList = {
      add: (c) => {
        const list = (this.getAttribute('class') || '').split(' ').filter(Boolean);
        if (!list.includes(c)) this.setAttribute('class', [...list, c].join(' '));
      },
      contains: (c) => (this.getAttribute('class') || '').split(' ').includes(c),
    };
  }

  setAttribute(k, v) {
    this.attributes.set(k, String(v));
  }

  getAttribute(k) {
    return this.attributes.has(k) ? this.attributes.get(k) : null;
  }

  set dir(v) {
    this.setAttribute('dir', v);
  }

  get dir() {
    return this.getAttribute('dir') || '';
  }

  append(...nodes) {
    for (const n of nodes) this.childNodes.push(n instanceof FakeNode ? n : new FakeText(String(n)));
  }

  addEventListener(type, fn) {
    this.listeners.push([type, fn]);
  }

  get children() {
    return this.childNodes.filter((n) => n instanceof FakeElement);
  }

  set textContent(v) {
    this.childNodes = [new FakeText(String(v))];
  }

  get textContent() {
    return this.childNodes.map((n) => n.textContent).join('');
  }

  /** Every descendant element matching pred, in document order. */
  findAll(pred) {
    const out = [];
    for (const c of this.children) {
      if (pred(c)) out.push(c);
      out.push(...c.findAll(pred));
    }
    return out;
  }
}

globalThis.Node = FakeNode;
globalThis.document = {
  createElement: (tag) => new FakeElement(tag),
  createElementNS: (ns, tag) => new FakeElement(tag, ns),
};

export const byTag = (root, tag) => root.findAll((e) => e.tagName === tag.toUpperCase());
export const byClass = (root, cls) => root.findAll((e) => e.classList.contains(cls));
