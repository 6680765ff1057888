// chromium.js - runs inspect.html over some pages of a run folder in headless
// Chromium and returns its counts (one object per page). Shared by
// check_run.js and check_virtual.js. CHROMIUM=path overrides the browser.
'use strict';
const fs = require('fs');
const path = require('path');
const os = require('os');
const { spawnSync } = require('child_process');

function inspectPages(dir, pages, extraQuery) {
  const inspect = 'file://' + path.join(__dirname, 'inspect.html');
  const url = `${inspect}?run=${encodeURIComponent('file://' + dir + '/')}&pages=${pages.map(encodeURIComponent).join(',')}` +
    (extraQuery || '');
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'whirl-chromium-'));
  const t0 = Date.now();
  const res = spawnSync(process.env.CHROMIUM || 'chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync',
    `--user-data-dir=${profile}`, '--allow-file-access-from-files', '--virtual-time-budget=60000', '--dump-dom', url],
  { encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120000 });
  fs.rmSync(profile, { recursive: true, force: true });
  const m = /<pre id="result">([^<]*)<\/pre>/.exec(res.stdout || '');
  if (!m || m[1] === 'pending') {
    throw new Error(`chromium gave no result (status ${res.status}):\n${(res.stderr || '').slice(-2000)}`);
  }
  const unescape = s => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  return { pages: JSON.parse(unescape(m[1])), ms: Date.now() - t0 };
}

module.exports = { inspectPages };
