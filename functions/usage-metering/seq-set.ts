/**
 * A set of non-negative integers stored as sorted disjoint ranges. An adapter numbers its checks
 * with one increasing sequence per boot (checkId `<instance>~<boot>:<seq>`), so the checks one hour
 * saw from one boot are a few long runs: memory grows with the gaps, not with the events. Inserts
 * at the end (the usual case) are O(1); others binary-search. Hand-written: no kept library offers a
 * range set, and this is 60 lines.
 */
export class SeqSet {
  /** Flat [start0, end0, start1, end1, ...], inclusive ends, sorted, non-adjacent. */
  private r: number[] = [];

  get ranges(): number {
    return this.r.length / 2;
  }

  has(n: number): boolean {
    const i = this.find(n);
    return i >= 0 && n <= this.r[i + 1]!;
  }

  /** Adds n; false when it was already present. */
  add(n: number): boolean {
    const r = this.r;
    const len = r.length;
    if (len === 0 || n > r[len - 1]! + 1) {
      r.push(n, n);
      return true;
    }
    if (n === r[len - 1]! + 1) {
      r[len - 1] = n;
      return true;
    }
    // i: start index of the last range starting at or before n (-2 when none).
    const i = this.find(n);
    if (i >= 0 && n <= r[i + 1]!) return false;
    const joinsLeft = i >= 0 && r[i + 1]! + 1 === n;
    const next = i + 2;
    const joinsRight = next < len && r[next]! - 1 === n;
    if (joinsLeft && joinsRight) r.splice(i + 1, 2);
    else if (joinsLeft) r[i + 1] = n;
    else if (joinsRight) r[next] = n;
    else r.splice(next, 0, n, n);
    return true;
  }

  /** Serializable form (state snapshots). */
  toJSON(): number[] {
    return this.r.slice();
  }

  static from(ranges: readonly number[]): SeqSet {
    const s = new SeqSet();
    s.r = ranges.slice();
    return s;
  }

  private find(n: number): number {
    let lo = 0;
    let hi = this.r.length / 2 - 1;
    let found = -2;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.r[mid * 2]! <= n) {
        found = mid * 2;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found;
  }
}
