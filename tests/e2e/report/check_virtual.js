#!/usr/bin/env node
// check_virtual.js - a large run's timeline.html draws only what is in view:
// opened without ?all=1 it draws a bounded number of ops, and scrolled to the
// middle it draws ops from the middle that overlap the viewport. Prints the
// time from navigation to the first render the page itself measured.
//
//   node check_virtual.js RUN_DIR EXPECTED_OPS
'use strict';
const path = require('path');
const { inspectPages } = require('./chromium');

const dir = path.resolve(process.argv[2] || '');
const expected = Number(process.argv[3]);
let failures = 0;
function check(cond, what) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
  if (!cond) failures++;
}
let r;
try {
  r = inspectPages(dir, ['timeline.html'], '&virtual=1');
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
const t = r.pages['timeline.html'];
console.log(`timeline of ${t.totalOps} ops: first render ${t.renderMs} ms after navigation; chromium run ${r.ms} ms`);
check(t.totalOps === expected && t.whirlOps === expected, `the page holds all ${expected} ops`);
check(t.rendered > 0 && t.rendered <= 4000, `only the ops in view are drawn (${t.rendered})`);
check(t.renderMs > 0 && t.renderMs < 5000, `first render within 5 s (${t.renderMs} ms)`);
const s = t.scrolled || {};
check(s.drawn > 0 && s.inView === s.drawn, `scrolled to the middle, every drawn op is in view (${s.inView} of ${s.drawn})`);
check(s.firstIndex > expected / 10, `and they are ops from the middle of the run (first index ${s.firstIndex})`);
process.exit(failures ? 1 : 0);
