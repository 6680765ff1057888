#!/usr/bin/env node
// gen_run.js - writes a synthetic whirl run folder (docs/STORE.md formats):
// history.jsonl, results.json, messages.jsonl, node-logs/. Used to test the
// reports without a cluster, and to make the 100,000-op timeline that the
// performance check opens. Deterministic from --seed.
//
//   node gen_run.js DIR [--ops N] [--seed S] [--invalid] [--procs P] [--no-messages]
'use strict';
const fs = require('fs');
const path = require('path');

const args = process.argv.slice(2);
const dir = args[0];
if (!dir) { console.error('usage: gen_run.js DIR [--ops N] [--seed S] [--invalid] [--procs P]'); process.exit(64); }
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? Number(args[i + 1]) : def; };
const nOps = opt('--ops', 200), seed = opt('--seed', 1), procs = opt('--procs', 10);
const invalid = args.includes('--invalid');
const withMessages = !args.includes('--no-messages');
console.log(`gen_run: ${dir} ops=${nOps} seed=${seed} procs=${procs} invalid=${invalid}`);

// mulberry32: small, seeded, good enough for test data.
let s = seed >>> 0;
const rnd = () => { s = (s + 0x6D2B79F5) >>> 0; let t = s; t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
const expo = (mean) => -Math.log(1 - rnd()) * mean;

fs.mkdirSync(path.join(dir, 'node-logs'), { recursive: true });
const nodes = ['n0', 'n1', 'n2'];
const events = [];
const msgs = [];
const registers = {};
const MS = 1e6;
// Each process runs one op at a time; time advances per process.
const clock = [];
const procId = [];
for (let p = 0; p < procs; p++) { clock.push(rnd() * 5 * MS); procId.push(p); }
let nextProc = procs;
let badIndexOp = null;
for (let i = 0; i < nOps; i++) {
  let p = 0;
  for (let q = 1; q < procs; q++) if (clock[q] < clock[p]) p = q;
  const key = Math.floor(i / Math.ceil(nOps / 5)); // five keys in turn, several processes on each
  const r = rnd();
  const f = r < 0.5 ? 'read' : r < 0.75 ? 'write' : 'cas';
  const t0 = Math.round(clock[p]);
  const t1 = Math.round(t0 + expo(3 * MS) + 0.2 * MS);
  const node = nodes[procId[p] % nodes.length];
  const process = procId[p];
  const cur = registers[key] === undefined ? null : registers[key];
  let inv, done;
  if (f === 'read') {
    inv = { value: null };
    done = cur === null ? { type: 'fail', value: null, error: [20, 'key does not exist'] } : { type: 'ok', value: cur };
  } else if (f === 'write') {
    const v = Math.floor(rnd() * 5);
    inv = { value: v }; done = { type: 'ok', value: v }; registers[key] = v;
  } else {
    const a = Math.floor(rnd() * 5), b = Math.floor(rnd() * 5);
    inv = { value: [a, b] };
    if (cur === a) { done = { type: 'ok', value: [a, b] }; registers[key] = b; }
    else done = cur === null ? { type: 'fail', value: [a, b], error: [20, 'no key'] } : { type: 'fail', value: [a, b], error: [22, `expected ${a}, had ${cur}`] };
  }
  if (rnd() < 0.03) done = { type: 'info', value: inv.value, error: rnd() < 0.5 ? undefined : [0, 'timeout'] };
  if (invalid && badIndexOp === null && key === 0 && f === 'read' && done.type === 'ok' && i > nOps / 10) {
    done = { type: 'ok', value: 9 }; // never written: no order of ops explains it
    badIndexOp = { f, t0 };
  }
  events.push({ time: t0, process, type: 'invoke', f, key, value: inv.value, node });
  const ev = { time: t1, process, type: done.type, f, key, value: done.value, node };
  if (done.error) ev.error = done.error;
  events.push(ev);
  if (badIndexOp && badIndexOp.t0 === t0 && badIndexOp.ev === undefined) badIndexOp.ev = events[events.length - 2];
  // client request and reply messages, and some server chatter
  const c = 'c' + (process + 1);
  msgs.push({ send: t0, recv: t0 + 0.1 * MS, src: c, dest: node, type: f, msg_id: i, in_reply_to: null, dropped: false, body: { type: f, key, msg_id: i } });
  msgs.push({ send: t1 - 0.1 * MS, recv: t1, src: node, dest: c, type: f + '_ok', msg_id: i, in_reply_to: i, dropped: false, body: { type: f + '_ok', in_reply_to: i } });
  for (const peer of nodes) if (peer !== node) {
    const dropped = rnd() < 0.05;
    msgs.push({ send: t0 + 0.2 * MS, recv: dropped ? null : t0 + 1 * MS, src: node, dest: peer, type: 'append_entries', msg_id: 1000000 + i, in_reply_to: null, dropped, body: { type: 'append_entries', term: 1, entries: [[key, inv.value]] } });
  }
  clock[p] = t1 + expo(5 * MS);
  if (done.type === 'info') procId[p] = nextProc++;
}
const end = events.reduce((m, e) => Math.max(m, e.time), 0);
// nemesis: a partition every 10 s for 5 s (and always one early one for short runs)
for (let t = 1000 * MS; t < end; t += 10000 * MS) {
  events.push({ time: Math.round(t), process: 'nemesis', type: 'info', f: 'start-partition', value: [['n0'], ['n1', 'n2']], text: 'one node isolated' });
  events.push({ time: Math.round(Math.min(end, t + 1500 * MS)), process: 'nemesis', type: 'info', f: 'stop-partition', value: null });
}
events.sort((a, b) => a.time - b.time);
events.forEach((e, i) => { e.index = i; });
msgs.sort((a, b) => a.send - b.send);
fs.writeFileSync(path.join(dir, 'history.jsonl'), events.map(e => JSON.stringify(e)).join('\n') + '\n');
if (withMessages) fs.writeFileSync(path.join(dir, 'messages.jsonl'), msgs.map(m => JSON.stringify(m)).join('\n') + '\n');
const keys = {};
for (let k = 0; k < 5; k++) keys[String(k)] = { valid: true, ops: 0 };
if (invalid && badIndexOp) keys['0'] = { valid: false, failed_op_index: badIndexOp.ev.index, possible: [registers[0] === undefined ? null : registers[0]] };
const results = { valid: invalid && badIndexOp ? false : true, seed, command: `gen_run.js ${args.join(' ')}`, node_count: 3, keys };
fs.writeFileSync(path.join(dir, 'results.json'), JSON.stringify(results, null, 1) + '\n');
for (const n of nodes) fs.writeFileSync(path.join(dir, 'node-logs', n + '.log'), `${n} started\n`);
console.log(`gen_run: ${events.length} events, ${msgs.length} messages, ${invalid && badIndexOp ? 'invalid key 0' : 'valid'}`);
