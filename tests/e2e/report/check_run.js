#!/usr/bin/env node
// check_run.js - asserts that a run folder's report pages render in headless
// Chromium: the timeline has one element per operation (whole run and per
// key), the plots have axes, ticks and their points, the Lamport diagrams
// have messages, an invalid key has linear.svg with the failing op marked
// and a linear.txt, and index.html shows the verdict and links only to files
// that exist. Expectations come from history.jsonl and results.json, read
// here independently of the C code.
//
//   node check_run.js RUN_DIR        (CHROMIUM=path overrides the browser)
'use strict';
const fs = require('fs');
const path = require('path');
const { inspectPages } = require('./chromium');

const dir = path.resolve(process.argv[2] || '');
if (!process.argv[2] || !fs.existsSync(path.join(dir, 'history.jsonl'))) {
  console.error('usage: check_run.js RUN_DIR (with history.jsonl)');
  process.exit(64);
}
let failures = 0;
function check(cond, what) {
  console.log(`${cond ? 'ok  ' : 'FAIL'} ${path.basename(dir)}: ${what}`);
  if (!cond) failures++;
}

// ---- expectations, from the raw files --------------------------------
const events = fs.readFileSync(path.join(dir, 'history.jsonl'), 'utf8').split('\n').filter(Boolean).map(l => {
  try { return JSON.parse(l); } catch (e) { return null; }
}).filter(Boolean);
const client = events.filter(e => typeof e.process === 'number');
const invokes = client.filter(e => e.type === 'invoke');
// completions paired per process, as a client runs one op at a time
const open = new Map();
let completed = 0;
for (const e of client) {
  if (e.type === 'invoke') open.set(e.process, e);
  else if (open.has(e.process)) { open.delete(e.process); completed++; }
}
const nemesisStarts = events.filter(e => e.process === 'nemesis' && /^(start-|kill$|pause$)/.test(e.f)).length;
let results = null;
try { results = JSON.parse(fs.readFileSync(path.join(dir, 'results.json'), 'utf8')); } catch (e) { /* none */ }
// Without results.json the report checks the history itself: expect
// WHIRL_EXPECT_VERDICT then (the test knows what the history holds).
const verdict = !results ? (process.env.WHIRL_EXPECT_VERDICT || 'none')
  : results.valid === true ? 'valid' : results.valid === false ? 'invalid' : 'unknown';
const keyVerdicts = results && results.keys ? results.keys : {};
const invalidKeys = Object.keys(keyVerdicts).filter(k => keyVerdicts[k].valid === false);
const nMessages = fs.existsSync(path.join(dir, 'messages.jsonl'))
  ? fs.readFileSync(path.join(dir, 'messages.jsonl'), 'utf8').split('\n').filter(Boolean).length : 0;

// ---- the pages, rendered ----------------------------------------------
const keyDirs = fs.existsSync(path.join(dir, 'independent'))
  ? fs.readdirSync(path.join(dir, 'independent')).filter(d => fs.existsSync(path.join(dir, 'independent', d, 'timeline.html')))
  : [];
const pages = ['index.html', 'timeline.html', 'latency-raw.svg', 'latency-quantiles.svg', 'rate.svg', 'messages.svg',
  'messages-invalid.svg'].filter(p => fs.existsSync(path.join(dir, p)));
for (const d of keyDirs) {
  for (const p of ['timeline.html', 'linear.svg']) {
    if (fs.existsSync(path.join(dir, 'independent', d, p))) pages.push(`independent/${d}/${p}`);
  }
}
let got, ms;
try {
  ({ pages: got, ms } = inspectPages(dir, pages));
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
console.log(`chromium inspected ${pages.length} pages in ${ms} ms`);

// timeline: one element per op, for the run and summed over the keys
const tl = got['timeline.html'];
check(tl && !tl.error, 'timeline.html loads');
check(tl.totalOps === invokes.length && tl.whirlOps === invokes.length,
  `timeline data holds every op (${tl.totalOps}, window.whirlOps ${tl.whirlOps}; history has ${invokes.length})`);
check(tl.ops === invokes.length && tl.rendered === invokes.length,
  `timeline?all=1 draws one .op element per op (${tl.ops} of ${invokes.length})`);
let keyOps = 0;
for (const d of keyDirs) {
  const k = got[`independent/${d}/timeline.html`];
  check(k && !k.error && k.ops === k.totalOps, `independent/${d}/timeline.html draws all its ${k && k.totalOps} ops`);
  keyOps += k ? k.ops : 0;
}
check(keyDirs.length === 0 || keyOps === invokes.length, `per-key timelines together hold every op (${keyOps})`);

// plots: axes, ticks, legend, points, nemesis shading
for (const p of ['latency-raw.svg', 'latency-quantiles.svg', 'rate.svg']) {
  const g = got[p];
  check(g && !g.error && g.root === 'svg' && !g.parseError, `${p} parses as SVG`);
  check(g.frame === 1 && g.xTicks >= 2 && g.yTicks >= 2 && g.axisLabels === 2,
    `${p} has a frame, both axis labels and ticks (x ${g.xTicks}, y ${g.yTicks})`);
  check(g.legend >= 4, `${p} has a legend (${g.legend} entries)`);
  if (nemesisStarts > 0) check(g.nemesis >= 1, `${p} shades fault periods (${g.nemesis})`);
}
const raw = got['latency-raw.svg'];
check(raw.pt + raw.ptsN === completed, `latency-raw has one point per completed op (${raw.pt + raw.ptsN} of ${completed})`);
check(got['latency-quantiles.svg'].series >= 1 && got['latency-quantiles.svg'].pt >= 1, 'latency-quantiles has lines and points');
check(got['rate.svg'].series >= 1 && got['rate.svg'].pt >= 1, 'rate has lines and points');

// messages
if (nMessages > 0) {
  const g = got['messages.svg'];
  check(g && !g.parseError && g.msgs >= 1 && g.msgs <= 400, `messages.svg draws messages (${g && g.msgs}, capped at 400)`);
}
if (invalidKeys.length > 0 && nMessages > 0) {
  const g = got['messages-invalid.svg'];
  check(g && !g.parseError && g.msgs >= 1, `messages-invalid.svg exists and draws messages (${g && g.msgs})`);
  check(g && g.mark === 1, 'messages-invalid.svg shades the span of the op that cannot be linearized');
}

// invalid keys: linear.svg with the failing op, and linear.txt
for (const k of invalidKeys) {
  const d = keyDirs.find(x => x === k || x === encodeURIComponent(k));
  check(d !== undefined, `invalid key ${k} has its folder`);
  if (d === undefined) continue;
  const g = got[`independent/${d}/linear.svg`];
  check(g && !g.parseError && g.failed === 1 && g.tickLabels >= 2, `independent/${d}/linear.svg marks the failing op`);
  const txt = fs.existsSync(path.join(dir, 'independent', d, 'linear.txt'))
    ? fs.readFileSync(path.join(dir, 'independent', d, 'linear.txt'), 'utf8') : '';
  check(/linearize/.test(txt) && /can't|cannot/.test(txt), `independent/${d}/linear.txt explains the failure`);
}

// index: verdict, links only to existing files, plots shown
const idx = got['index.html'];
check(idx && idx.verdict.split(' ').includes(verdict), `index.html shows the verdict ${verdict} (${idx && idx.verdict})`);
const missing = idx.links.filter(h => !/^[a-z]+:/.test(h)).map(h => decodeURIComponent(h.replace(/[?#].*$/, '')))
  .filter(h => !fs.existsSync(path.join(dir, h)));
check(missing.length === 0, `every link on index.html resolves to a file (${idx.links.length} links; missing: ${missing.join(' ') || 'none'})`);
for (const want of ['timeline.html', 'latency-raw.svg', 'latency-quantiles.svg', 'rate.svg', 'results.json', 'history.jsonl']) {
  if (fs.existsSync(path.join(dir, want))) check(idx.links.includes(want), `index.html links ${want}`);
}
check(idx.images.length >= 3 && idx.images.every(i => i.w > 0), `index.html's plot images load (${idx.images.map(i => i.w).join(',')})`);

console.log(failures ? `check_run: ${failures} checks failed` : 'check_run: all checks passed');
process.exit(failures ? 1 : 0);
