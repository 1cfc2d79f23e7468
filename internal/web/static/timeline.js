// A bounded list of events, newest first, for the feed and a job's runs:
// live events join at the top in O(1) and push the oldest out, so a screen
// left open for days holds at most `cap` events in memory and the DOM.
export const CAP = 500;

export class Timeline {
  constructor(cap = CAP) {
    this.cap = cap;
    // Oldest first from `head`: live events are pushed, the oldest dropped
    // by moving `head`, and the array compacted now and then.
    this.buf = [];
    this.head = 0;
    this.seqs = new Set();
    /** The `before` cursor of the next older page, or null when none is left. */
    this.next = null;
  }

  get size() {
    return this.buf.length - this.head;
  }

  get full() {
    return this.size >= this.cap;
  }

  has(seq) {
    return this.seqs.has(seq);
  }

  /**
   * Adds an event newer than all it holds (a live one). Returns the events
   * it dropped to stay within the cap, oldest first, or null when ev was
   * already there.
   */
  addNewest(ev) {
    if (this.seqs.has(ev.seq)) return null;
    this.buf.push(ev);
    this.seqs.add(ev.seq);
    const dropped = [];
    while (this.size > this.cap) dropped.push(this.dropOldest());
    // What was dropped can be loaded again as an older page.
    if (dropped.length) this.next = this.buf[this.head].seq;
    return dropped;
  }

  dropOldest() {
    const ev = this.buf[this.head];
    this.buf[this.head] = undefined;
    this.head++;
    this.seqs.delete(ev.seq);
    if (this.head >= this.cap) {
      this.buf = this.buf.slice(this.head);
      this.head = 0;
    }
    return ev;
  }

  /**
   * Adds a page of older events (newest first, as the API sends them) while
   * there is room, and returns the ones it added. next is the page's
   * next_before; when the page did not fit whole, the cursor stays at the
   * oldest event kept.
   */
  addOlder(events, next) {
    const added = [];
    let cut = false;
    for (const ev of events) {
      if (this.seqs.has(ev.seq)) continue;
      if (this.size + added.length >= this.cap) {
        cut = true;
        break;
      }
      this.seqs.add(ev.seq);
      added.push(ev);
    }
    this.buf = [...added].reverse().concat(this.buf.slice(this.head));
    this.head = 0;
    this.next = cut ? this.buf[0].seq : next ?? null;
    return added;
  }

  /** The events, newest first; at most `limit` of them. */
  newest(limit = Infinity) {
    const out = [];
    for (let i = this.buf.length - 1; i >= this.head && out.length < limit; i--) out.push(this.buf[i]);
    return out;
  }

  clear() {
    this.buf = [];
    this.head = 0;
    this.seqs.clear();
    this.next = null;
  }
}
