#!/usr/bin/env node
// check_virtual.js - a large run's timeline.html draws only what is in view:
// opened at its middle op (timeline.html#op=N, as a user following a link
// would) it draws a bounded number of ops, all from around that op, the op
// itself among them. Prints the time from navigation to the first render the
// page measured. The page is dumped right after its load event (no virtual
// time), so a slow machine cannot cut the page short.
//
//   node check_virtual.js RUN_DIR        (CHROMIUM=path overrides the browser)
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const { spawnSync } = require('child_process');

const dir = path.resolve(process.argv[2] || '');
let failures = 0;
function check(cond, what) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${what}`);
  if (!cond) failures++;
}
const invokes = fs.readFileSync(path.join(dir, 'history.jsonl'), 'utf8').split('\n').filter(Boolean)
  .map(l => JSON.parse(l)).filter(e => typeof e.process === 'number' && e.type === 'invoke');
const n = invokes.length;
const mid = Math.floor(n / 2);
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'whirl-chromium-'));
const t0 = Date.now();
const res = spawnSync(process.env.CHROMIUM || 'chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
  '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
  `--user-data-dir=${profile}`, '--window-size=1200,800', '--dump-dom',
  `file://${dir}/timeline.html#op=${invokes[mid].index}`], { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120000 });
fs.rmSync(profile, { recursive: true, force: true });
const dom = res.stdout || '';
const attr = name => { const m = new RegExp(`data-${name}="(\\d+)"`).exec(dom); return m ? Number(m[1]) : null; };
const drawn = [...dom.matchAll(/class="op [^"]*" data-i="(\d+)"/g)].map(m => Number(m[1]));
console.log(`timeline of ${attr('total-ops')} ops: first render ${attr('render-ms')} ms after navigation;` +
  ` chromium run ${Date.now() - t0} ms`);
check(attr('total-ops') === n, `the page holds all ${n} ops`);
check(attr('render-ms') !== null && attr('render-ms') < 5000, `first render within 5 s (${attr('render-ms')} ms)`);
check(drawn.length > 0 && drawn.length === attr('rendered') && drawn.length <= 4000,
  `only the ops in view are drawn (${drawn.length})`);
check(drawn.includes(mid), `#op= brought op ${mid} (history index ${invokes[mid].index}) into view`);
const lo = Math.min(...drawn), hi = Math.max(...drawn);
check(lo > n * 0.3 && hi < n * 0.7, `every drawn op is from around it (ops ${lo}..${hi})`);
process.exit(failures ? 1 : 0);
