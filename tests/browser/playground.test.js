// The playground in headless Chromium against the real server: it loads
// cleanly; XOR, circle (set up by a link) and a 3-class spiral (set up in the
// form) each train to 95% test accuracy; the network picture draws every
// neuron forward (activations over the plane) and backward (error signals on
// the training points); the step-through of one backward sweep shows the
// server's deltas for the chosen row bit for bit; regression, features, L1
// and L2 reach the requests; a shared link reopens the same setup; the
// weights export; it checks gradients, shows the server's errors and network
// errors, copies a curl command that replays, works behind a token, and walks
// the chain rule of exp(sin(x^2)). Every request the page sends and every
// response it gets is checked against openapi.yaml. Screenshots of the
// forward and backward views land in OUT. Prints PASS/FAIL per check and a
// count line.
//
// Environment: GS_URL (a server without auth), GS_AUTH_URL and GS_TOKEN (one
// with a token), OPENAPI (path of openapi.yaml), OUT (screenshots folder).
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync, existsSync, statSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadContract } from './contract.js';
import { check, fail, assert, finish } from './harness.js';

const URL_OPEN = process.env.GS_URL;
const URL_AUTH = process.env.GS_AUTH_URL;
const TOKEN = process.env.GS_TOKEN || '';
const OUT = process.env.OUT || 'build/browser';
const contract = loadContract(process.env.OPENAPI || 'openapi.yaml');


// ---- what the page sends and receives --------------------------------------------

const traffic = { requests: 0, responses: 0, violations: [], posts: [], expected: [], inflight: 0, maxInflight: 0 };
let invalidBody = false; // a check sending a body the contract refuses on purpose
let consoleErrors = [];
let expectErrors = false; // a check provoking 4xx answers (Chromium logs those)

function watch(page) {
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const t = m.text();
    if (expectErrors && /Failed to load resource: the server responded with a status of 4\d\d|net::ERR_FAILED|ERR_CONNECTION_REFUSED/.test(t)) return;
    consoleErrors.push(t);
  });
  page.on('pageerror', (e) => consoleErrors.push(`page error: ${e.message}`));
  page.on('request', (req) => {
    const u = new URL(req.url());
    if (!u.protocol.startsWith('http')) return;
    traffic.requests++;
    if (req.method() === 'POST') {
      traffic.inflight++;
      traffic.maxInflight = Math.max(traffic.maxInflight, traffic.inflight);
    }
    if (req.method() === 'POST' || req.method() === 'PUT') {
      const h = req.headers();
      const binary = /^application\/octet-stream/.test(h['content-type'] || '');
      const body = binary ? req.postDataBuffer() : req.postData() || '';
      if (req.method() === 'POST') traffic.posts.push({ path: u.pathname, body, accept: h['accept'] });
      const err = contract.checkRequest(req.method(), u.pathname, h['content-type'], body, h['inference-header-content-length']);
      if (err) (invalidBody ? traffic.expected : traffic.violations).push(err);
    }
  });
  const done = (req) => { if (req.method() === 'POST') traffic.inflight--; };
  page.on('requestfinished', done);
  page.on('requestfailed', done);
  page.on('response', async (res) => {
    const u = new URL(res.url());
    if (!u.protocol.startsWith('http')) return;
    let body = '';
    try { body = await res.text(); } catch { return; } // a page that moved on
    traffic.responses++;
    const err = contract.checkResponse(res.request().method(), u.pathname, res.status(), res.headers(), body);
    if (err) traffic.violations.push(err);
  });
}

async function launch() {
  const dir = mkdtempSync(join(tmpdir(), 'gs-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  return { ctx, dir };
}

const text = (page, sel) => page.locator(sel).innerText();
const canvasData = (page, id) => page.evaluate((i) => document.getElementById(i).toDataURL(), id);

async function open(page, url) {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
}

// Presses Train until the test score (accuracy in percent, or R²) reaches
// `target`, then Pause; returns the score and epoch count the page showed
// when it got there (the round under way when Pause is pressed still ends).
async function trainTo(page, target, timeout = 120000) {
  await page.click('#train');
  const seen = await page.waitForFunction((t) => {
    const v = parseFloat(document.getElementById('test-acc').textContent);
    return v >= t && [v, Number(document.getElementById('epoch').textContent)];
  }, target, { timeout, polling: 'raf' });
  const [acc, epochs] = await seen.jsonValue();
  await page.click('#pause');
  // Train comes back at once; "paused" once the round under way has ended
  await page.waitForFunction(() => !document.getElementById('train').disabled &&
    document.getElementById('run-state').textContent === 'paused', null, { timeout: 20000 });
  return { acc, epochs };
}

// Every setting of the form: {id: value or checked}.
const formState = (page) => page.evaluate(() => Object.fromEntries(
  [...document.querySelectorAll('#settings input, #settings select, #settings textarea')]
    .map((e, i) => [e.id || `${e.className}-${i}`, e.type === 'checkbox' ? e.checked : e.value])));

// The server's answer to a request, asked from here (not through the page).
async function post(base, route, body) {
  const r = await fetch(`${base}${route}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await r.text();
  assert(r.ok, `${route} answered ${r.status}: ${answer.slice(0, 300)}`);
  return JSON.parse(answer);
}
const lastPost = (route) => JSON.parse(traffic.posts.filter((p) => p.path === route).at(-1).body);
const firstPostSince = (route, n) => JSON.parse(traffic.posts.slice(n).find((p) => p.path === route).body);

// ---- the checks ------------------------------------------------------------------------

async function main() {
  mkdirSync(OUT, { recursive: true });
  const { ctx, dir } = await launch();
  const page = ctx.pages()[0] || (await ctx.newPage());
  watch(page);
  let pageHeaders = {};
  page.on('response', (r) => { if (new URL(r.url()).pathname === '/') pageHeaders = r.headers(); });

  await check('page_loads_without_console_errors', async () => {
    await open(page, `${URL_OPEN}/`);
    await page.waitForTimeout(300);
    assert(consoleErrors.length === 0, `console errors: ${consoleErrors.join(' | ')}`);
    assert((await page.title()).includes('gradserve'), 'no title');
  });

  await check('page_is_served_with_nosniff_and_a_strict_csp', async () => {
    assert(pageHeaders['x-content-type-options'] === 'nosniff', 'no nosniff');
    const csp = pageHeaders['content-security-policy'] || '';
    assert(/^default-src 'self'/.test(csp), `CSP: ${csp}`);
    assert(!/unsafe-inline|unsafe-eval|https?:/.test(csp), `CSP allows too much: ${csp}`);
    const inline = await page.evaluate(() => [...document.scripts].filter((s) => !s.src).length);
    assert(inline === 0, `${inline} inline scripts`);
    const external = await page.evaluate(() => [...document.querySelectorAll('[src],[href]')]
      .map((e) => e.src || e.href).filter((u) => u && !u.startsWith(location.origin) && !u.startsWith('data:')));
    assert(external.length === 0, `external resources: ${external.join(', ')}`);
  });

  let before = {};
  const CANVASES = ['boundary', 'curves', 'magnitudes', 'network'];
  await check('xor_trains_to_95_percent_test_accuracy', async () => {
    assert((await page.locator('#dataset').inputValue()) === 'xor', 'xor is not the default');
    for (const c of CANVASES) before[c] = await canvasData(page, c);
    const t0 = Date.now();
    const { acc, epochs } = await trainTo(page, 95, 90000);
    console.log(`  XOR: test accuracy ${acc}% after ${epochs} epochs, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert(acc >= 95, `test accuracy ${acc}%`);
    const trains = traffic.posts.filter((p) => p.path === '/train').map((p) => JSON.parse(p.body));
    assert(trains.length >= 2, `${trains.length} /train calls`);
    assert(trains[0].init && !trains[0].params, 'the first /train does not initialise');
    assert(trains[1].params && trains[1].optimizer_state, 'later /train calls do not carry params and optimizer state');
  });

  await check('every_panel_renders_after_training_forward_and_backward', async () => {
    const after = {};
    for (const c of CANVASES) after[c] = await canvasData(page, c);
    for (const k of CANVASES) assert(after[k] !== before[k], `${k} did not change`);
    const g = lastPost('/gradients');
    assert(g.return && g.return.deltas && g.return.activations && g.return.outputs && g.return.input_grad,
      `/gradients asks for ${JSON.stringify(g.return)}`);
    const grid = traffic.posts.filter((p) => p.path === '/forward').map((p) => JSON.parse(p.body))
      .find((b) => b.return && b.return.activations);
    assert(grid && grid.inputs.length === 1600, 'no /forward of every layer over the 40 x 40 grid');
    assert(traffic.maxInflight >= 3, `at most ${traffic.maxInflight} requests at once: the views' three are not sent in parallel`);
    const loss = parseFloat(await text(page, '#train-loss'));
    assert(loss > 0 && loss < 0.3, `train loss ${loss}`);
    // the backward view draws something else, then the forward view comes back the same
    await page.click('#view-backward');
    const backward = await canvasData(page, 'network');
    assert(backward !== after.network, 'the backward view looks like the forward view');
    assert(/dL\/dz/.test(await text(page, '#network-note')), 'no note for the backward view');
    await page.click('#view-forward');
    assert((await canvasData(page, 'network')) === after.network, 'the forward view changed by toggling');
    assert(await page.locator('#sweep-body').isVisible(), 'the step-through is not shown after training');
  });

  await check('step_through_shows_the_servers_deltas_for_the_row_bit_for_bit', async () => {
    const row = 7;
    await page.fill('#sweep-point', String(row));
    await page.dispatchEvent('#sweep-point', 'change');
    await page.waitForFunction((r) => document.getElementById('sweep-head').textContent.startsWith(`Training point #${r} `), row);
    assert((await page.locator('#sweep-steps li:visible').count()) >= 1, 'no first step');
    await page.click('#sweep-all');
    const body = lastPost('/gradients');
    const L = body.network.layers.length;
    assert((await page.locator('#sweep-steps li:visible').count()) === 2 * L + 1, 'not 2L + 1 steps (seed, L shares of dL/dW, L - 1 deltas, the inputs)');
    const shown = await page.evaluate(() => [...document.querySelectorAll('#sweep-steps td.server')].map((td) => ({
      delta: td.classList.contains('delta'), layer: Number(td.dataset.layer), unit: Number(td.dataset.unit),
      text: td.textContent, visible: td.offsetParent !== null })));
    const api = await post(URL_OPEN, '/gradients', body); // the same request, asked from here
    const units = body.network.layers.reduce((s, l) => s + l.units, 0);
    assert(shown.length === units + body.network.inputs, `${shown.length} server numbers for ${units} units and ${body.network.inputs} inputs`);
    for (const c of shown) {
      const want = c.delta ? api.deltas[c.layer][row][c.unit] : api.input_grad[row][c.unit];
      assert(c.visible, `layer ${c.layer} unit ${c.unit} hidden`);
      assert(Object.is(Number(c.text), want) && c.text === String(want),
        `${c.delta ? `deltas[${c.layer}][${row}][${c.unit}]` : `input_grad[${row}][${c.unit}]`}: page ${c.text}, API ${want}`);
    }
    // the worst-fit point is the row with the largest output error signal
    const out = api.deltas[L - 1].map((r) => r.reduce((s, v) => s + Math.abs(v), 0));
    const worst = out.reduce((k, v, i) => (v > out[k] ? i : k), 0);
    await page.click('#sweep-worst');
    assert(Number(await page.inputValue('#sweep-point')) === worst, `the worst point is ${worst}, the page picked ${await page.inputValue('#sweep-point')}`);
    const first = await page.locator('#sweep-steps td.server.delta').first().innerText();
    assert(Object.is(Number(first), api.deltas[L - 1][worst][0]), 'the sweep did not follow the new point');
  });

  await check('gradient_check_passes', async () => {
    await page.click('#gradcheck');
    await page.waitForSelector('#gradcheck-result p', { timeout: 20000 });
    const t = await text(page, '#gradcheck-result');
    assert(/passed/.test(t) && (await page.locator('#gradcheck-result .pass').count()) === 1, `result: ${t}`);
    assert((await page.locator('#gradcheck-result tr').count()) === 7, 'not one row per tensor (3 layers x 2)');
  });

  await check('export_downloads_the_trained_network_as_json', async () => {
    const [download] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click('#export')]);
    const doc = JSON.parse(readFileSync(await download.path(), 'utf8'));
    const g = lastPost('/gradients');
    assert(JSON.stringify(doc.params) === JSON.stringify(g.params), 'the exported params are not the trained ones');
    assert(JSON.stringify(doc.network) === JSON.stringify(g.network), 'the exported network differs');
    assert(JSON.stringify(doc.features) === '["x","y"]', `features ${JSON.stringify(doc.features)}`);
    // the file runs as it is: /forward on the test points gives the accuracy the page shows
    const test = traffic.posts.filter((p) => p.path === '/forward').map((p) => JSON.parse(p.body)).filter((b) => b.targets).at(-1);
    const out = await post(URL_OPEN, '/forward', { network: doc.network, params: doc.params, inputs: test.inputs });
    const ok = out.outputs.filter((o, i) => (o[0] > 0.5 ? 1 : 0) === test.targets[i][0]).length;
    const acc = (100 * ok / test.inputs.length).toFixed(1);
    assert(`${acc}%` === await text(page, '#test-acc'), `exported weights give ${acc}%, the page shows ${await text(page, '#test-acc')}`);
  });

  await check('copy_as_curl_replays_the_exact_request', async () => {
    await page.selectOption('#curl-route', '/train');
    await page.click('#copy-curl');
    const cmd = await text(page, '#curl');
    const last = traffic.posts.filter((p) => p.path === '/train').pop();
    assert(cmd.startsWith('curl ') && cmd.includes(`${URL_OPEN}/train`), `command: ${cmd.slice(0, 120)}`);
    const out = execFileSync('bash', ['-c', cmd.replace(/ -sS /, ' -sS -o - -w "\\n%{http_code}" ')], { encoding: 'utf8', maxBuffer: 64 << 20 });
    const code = out.slice(out.lastIndexOf('\n') + 1);
    assert(code === '200', `curl answered ${code}: ${out.slice(0, 300)}`);
    const sentBody = cmd.match(/--data-raw '([\s\S]*)'$/);
    assert(sentBody && sentBody[1].replace(/'\\''/g, "'") === last.body, 'the command does not carry the body the page sent');
  });

  await check('a_streamed_training_shows_its_epochs_before_the_answer', async () => {
    // One long round: /train answers a line per epoch (NDJSON) and the page
    // counts them as they come. The page records when its epoch counter
    // changes; the resource timing of the /train fetch says when its last
    // byte came: counts shown before that are progress before the answer.
    await page.fill('#epochs', '10000');
    await page.dispatchEvent('#epochs', 'change');
    const start = Number(await text(page, '#epoch'));
    await page.evaluate(() => {
      const el = document.getElementById('epoch');
      window.epochChanges = [];
      new MutationObserver(() => window.epochChanges.push([performance.now(), Number(el.textContent)]))
        .observe(el, { childList: true, characterData: true, subtree: true });
      performance.clearResourceTimings();
    });
    const n = traffic.posts.length;
    await page.click('#step');
    await page.waitForFunction((end) => Number(document.getElementById('epoch').textContent) === end &&
      !document.getElementById('step').disabled, start + 10000, { timeout: 60000 });
    const { before, responseEnd } = await page.evaluate((s0) => {
      const t = performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname === '/train').pop();
      const end = t ? t.responseEnd : 0;
      return { responseEnd: end,
        before: window.epochChanges.filter(([ts, e]) => ts < end && e > s0 && e < s0 + 10000).length };
    }, start);
    const req = traffic.posts.slice(n).find((r) => r.path === '/train');
    assert(req && /application\/x-ndjson/.test(req.accept || ''), `the page did not ask for NDJSON: ${req && req.accept}`);
    assert(responseEnd > 0, 'no resource timing for /train');
    assert(before >= 1, `epoch counts shown before the answer's last byte: ${before}`);
    console.log(`  ${before} epoch counts shown before the last byte of a 10000-epoch /train`);
    await page.fill('#epochs', '10');
    await page.dispatchEvent('#epochs', 'change');
  });

  await check('invalid_setting_shows_the_servers_error', async () => {
    expectErrors = true;
    invalidBody = true;
    await page.fill('#lr', '-1');
    await page.dispatchEvent('#lr', 'change');
    const n = traffic.posts.length;
    await page.click('#step');
    await page.waitForSelector('#error:not([hidden])', { timeout: 10000 });
    const t = await text(page, '#error');
    assert(/\/optimizer\/lr/.test(t) && /must be a finite number >= 0/.test(t) && /400/.test(t), `error box: ${t}`);
    assert(traffic.posts.length === n + 1, 'the page did not stop after the error');
    assert(!(await page.locator('#train').isDisabled()), 'Train is still disabled');
    invalidBody = false;
    /* the contract checker saw what the server refused: it can fail */
    assert(traffic.expected.some((e) => /optimizer\/lr must be >= 0/.test(e)), `the checker let lr -1 pass: ${traffic.expected}`);
    await page.fill('#lr', '0.03');
    expectErrors = false;
  });

  await check('network_errors_are_shown_plainly', async () => {
    expectErrors = true;
    await page.route('**/train', (r) => r.abort('connectionrefused'));
    await page.click('#step');
    await page.waitForFunction(() => /Network error/.test(document.getElementById('error').textContent), null, { timeout: 10000 });
    await page.unroute('**/train');
    expectErrors = false;
    const epoch = Number(await text(page, '#epoch'));
    await page.click('#step');
    await page.waitForFunction(() => document.getElementById('error').hidden, null, { timeout: 10000 });
    // the whole round, so that none of its requests lands in the next check
    await page.waitForFunction((e) => Number(document.getElementById('epoch').textContent) > e &&
      document.getElementById('run-state').textContent === 'paused', epoch, { timeout: 15000 });
  });

  await check('a_bad_data_setting_is_named_and_sends_nothing', async () => {
    const n = traffic.posts.length;
    await page.fill('#points', '2');
    await page.dispatchEvent('#points', 'change');
    await page.waitForSelector('#error:not([hidden])', { timeout: 5000 });
    const t = await text(page, '#error');
    assert(/^points: /.test(t), `error box: ${t}`);
    await page.fill('#points', '200');
    await page.dispatchEvent('#points', 'change');
    assert(await page.locator('#error').isHidden(), 'the error stays after a good value');
    assert(traffic.posts.length === n, 'requests were sent');
  });

  await check('l1_and_l2_reach_the_requests_and_the_loss', async () => {
    await page.fill('#l1', '0.001');
    await page.dispatchEvent('#l1', 'change');
    await page.fill('#l2', '0.0005');
    await page.dispatchEvent('#l2', 'change');
    const n = traffic.posts.length, epoch = Number(await text(page, '#epoch'));
    await page.click('#step');
    await page.waitForFunction((e) => Number(document.getElementById('epoch').textContent) > e && document.getElementById('run-state').textContent === 'paused', epoch, { timeout: 15000 });
    const tr = firstPostSince('/train', n), g = firstPostSince('/gradients', n);
    assert(tr.network.penalty && tr.network.penalty.l1 === 0.001, `network ${JSON.stringify(tr.network)}`);
    assert(tr.optimizer.weight_decay === 0.0005, `optimizer ${JSON.stringify(tr.optimizer)}`);
    assert(g.network.penalty && g.network.penalty.l1 === 0.001, '/gradients without the penalty');
    // the loss the page shows is the penalised one: loss + l1 * sum |W|
    const plain = await post(URL_OPEN, '/forward', { network: { ...g.network, penalty: undefined }, params: g.params, inputs: g.inputs, targets: g.targets });
    const sumAbs = g.params.reduce((s, p) => s + p.weight.flat().reduce((a, w) => a + Math.abs(w), 0), 0);
    const shown = parseFloat(await text(page, '#train-loss'));
    const want = plain.loss + 0.001 * sumAbs;
    assert(Math.abs(shown - want) <= 1e-3 * want, `train loss ${shown}, want ${want} (${plain.loss} + 0.001 x ${sumAbs})`);
    await page.fill('#l1', '0');
    await page.dispatchEvent('#l1', 'change');
    await page.fill('#l2', '0');
    await page.dispatchEvent('#l2', 'change');
  });

  await check('circle_from_a_link_with_squared_features_trains_to_95_percent', async () => {
    await page.goto('about:blank');
    await open(page, `${URL_OPEN}/#dataset=circle&features=x,y,x2,y2&layers=4:tanh`);
    assert((await page.inputValue('#dataset')) === 'circle', 'the link did not choose circle');
    assert(await page.isChecked('#feature-x2') && await page.isChecked('#feature-y2') && !(await page.isChecked('#feature-xy')), 'the link did not choose the features');
    assert((await page.locator('#layers .layer-row').count()) === 1, 'the link did not set one hidden layer');
    const n = traffic.posts.length;
    const { acc, epochs } = await trainTo(page, 95);
    console.log(`  circle: test accuracy ${acc}% after ${epochs} epochs`);
    const tr = firstPostSince('/train', n);
    assert(tr.network.inputs === 4 && tr.network.layers.length === 2 && tr.network.layers[0].units === 4, `network ${JSON.stringify(tr.network)}`);
    assert(tr.inputs.every((r) => r.length === 4 && Math.abs(r[2] - r[0] * r[0]) < 1e-5 && Math.abs(r[3] - r[1] * r[1]) < 1e-5), 'the inputs are not x, y, x², y²');
  });

  let spiral = null;
  await check('spiral_of_3_classes_set_in_the_form_trains_to_95_percent', async () => {
    await page.goto('about:blank');
    await open(page, `${URL_OPEN}/`);
    const n = traffic.posts.length;
    await page.selectOption('#dataset', 'spiral');
    await page.selectOption('#classes', '3');
    for (const [id, v] of [['points', '450'], ['noise', '0.03'], ['lr', '0.01'], ['epochs', '25']]) {
      await page.fill(`#${id}`, v);
      await page.dispatchEvent(`#${id}`, 'change');
    }
    await page.check('#feature-sinx');
    await page.check('#feature-siny');
    await page.click('#add-layer');
    for (let i = 0; i < 3; i++) {
      await page.locator('#layers .units').nth(i).fill('10');
      await page.locator('#layers .units').nth(i).dispatchEvent('change');
    }
    assert(await page.locator('#loss').isDisabled() && (await page.inputValue('#loss')) === 'cross_entropy', 'three classes do not force cross-entropy');
    // early in training, error signals reach every neuron: the backward view then
    await page.click('#step');
    await page.waitForFunction(() => Number(document.getElementById('epoch').textContent) > 0, null, { timeout: 15000 });
    await page.fill('#sweep-point', '3');
    await page.dispatchEvent('#sweep-point', 'change');
    await page.click('#view-backward');
    await page.click('#sweep-next');
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUT, 'backward.png') });
    await page.click('#view-forward');
    const t0 = Date.now();
    const { acc, epochs } = await trainTo(page, 95, 240000);
    console.log(`  spiral, 3 classes: test accuracy ${acc}% after ${epochs} epochs, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const tr = firstPostSince('/train', n);
    const out = tr.network.layers.at(-1);
    assert(tr.network.loss === 'cross_entropy' && out.units === 3 && out.activation === 'softmax', `network ${JSON.stringify(tr.network)}`);
    assert(tr.network.inputs === 4 && tr.inputs[0].length === 4, 'not 4 features');
    assert(tr.targets.every((t) => Number.isInteger(t) && t >= 0 && t < 3) && new Set(tr.targets).size === 3, 'targets are not class indices 0..2');
    spiral = { url: page.url(), form: await formState(page), info: await text(page, '#data-info'), first: tr };
    // the trained network forward, as a teacher would project it
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: join(OUT, 'forward.png') });
    await page.locator('#sweep-panel').screenshot({ path: join(OUT, 'sweep.png') });
    console.log(`  screenshots: ${['forward', 'backward', 'sweep'].map((f) => join(OUT, `${f}.png`)).join(', ')}`);
  });

  await check('a_shared_link_reopens_the_same_setup', async () => {
    assert(spiral, 'no spiral setup to share');
    assert(/dataset=spiral/.test(spiral.url) && /classes=3/.test(spiral.url), `the address is ${spiral.url}`);
    const p2 = await ctx.newPage();
    watch(p2);
    await open(p2, spiral.url);
    const form = await formState(p2);
    assert(JSON.stringify(form) === JSON.stringify(spiral.form), `the form differs:\n  ${JSON.stringify(form)}\n  ${JSON.stringify(spiral.form)}`);
    assert((await p2.locator('#data-info').innerText()) === spiral.info, 'the data differ');
    const n = traffic.posts.length;
    await p2.click('#step');
    await p2.waitForFunction(() => Number(document.getElementById('epoch').textContent) > 0, null, { timeout: 15000 });
    const tr = firstPostSince('/train', n);
    for (const k of ['network', 'inputs', 'targets', 'init', 'optimizer', 'epochs', 'batch_size', 'seed'])
      assert(JSON.stringify(tr[k]) === JSON.stringify(spiral.first[k]), `the first /train's ${k} differs`);
    await p2.close();
  });

  await check('regression_in_1d_and_2d_trains_with_mse', async () => {
    for (const [name, features] of [['sine', ['x']], ['bumps', ['x', 'y']]]) {
      await page.click('#reset');
      await page.selectOption('#dataset', name);
      for (const f of ['x', 'y', 'x2', 'y2', 'xy', 'sinx', 'siny'])
        if (!(await page.isDisabled(`#feature-${f}`))) await page.setChecked(`#feature-${f}`, features.includes(f));
      const n = traffic.posts.length;
      const { acc, epochs } = await trainTo(page, 0.9);
      console.log(`  ${name}: test R² ${acc} after ${epochs} epochs`);
      assert(/R²/.test(await text(page, '#test-acc-label')), 'no R² for a regression');
      const tr = firstPostSince('/train', n);
      const out = tr.network.layers.at(-1);
      assert(tr.network.loss === 'mse' && out.units === 1 && out.activation === 'linear', `network ${JSON.stringify(tr.network)}`);
      assert(JSON.stringify(tr.inputs[0].length) === String(features.length), `inputs ${JSON.stringify(tr.inputs[0])}`);
      assert(tr.targets.every((t) => t.length === 1 && Number.isFinite(t[0])), 'targets are not [rows, 1] values');
      assert(name !== 'sine' || await page.locator('#feature-y').isDisabled(), 'y is offered for a 1-D regression');
    }
    // back to two classes: the reader's loss returns, the old numbers go
    await page.selectOption('#dataset', 'xor');
    assert(!(await page.isDisabled('#loss')) && (await page.inputValue('#loss')) === 'binary_cross_entropy',
      `loss after regression: ${await page.inputValue('#loss')}`);
    assert((await text(page, '#train-loss')) === '—' && (await text(page, '#test-acc')) === '—', 'stale numbers after a new dataset');
  });

  await check('autodiff_panel_walks_the_sweep_of_exp_sin_x2', async () => {
    await page.fill('#ad-expression', 'exp(sin(x^2))');
    await page.fill('#ad-at', 'x = 1.5');
    await page.click('#ad-run');
    await page.waitForSelector('#ad-result:not([hidden])', { timeout: 10000 });
    const summary = await text(page, '#ad-summary');
    assert(/-4\.10312/.test(summary) && /2\.17727/.test(summary), `summary: ${summary}`);
    assert((await page.locator('#ad-tape tbody tr').count()) === 5, 'tape rows');
    assert((await page.locator('#ad-events li').count()) === 4, 'events');
    for (let k = 1; k <= 4; k++) {
      await page.click('#ad-next');
      assert((await page.locator('#ad-events li.done').count()) === k, `after ${k} clicks`);
      assert((await page.locator('#ad-tape tr.hl-node').count()) === 1, 'no highlighted node');
    }
    const adjX = await page.locator('#ad-tape tbody tr[data-node="0"] .adj').innerText();
    assert(/^-4\.10312/.test(adjX), `adjoint of x: ${adjX}`);
    assert((await page.locator('#ad-expr-view mark.hl-node').innerText()) === 'x', 'x not highlighted last');
    await page.locator('#chain-panel').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(OUT, 'autodiff.png'), fullPage: false });
  });

  await check('autodiff_syntax_error_shows_the_position', async () => {
    expectErrors = true;
    await page.fill('#ad-expression', 'exp(sin(x^2)');
    await page.click('#ad-run');
    await page.waitForSelector('#ad-error:not([hidden])', { timeout: 10000 });
    const t = await text(page, '#ad-error');
    assert(/position 12/.test(t) && /missing '\)'/.test(t), `error: ${t}`);
    expectErrors = false;
    await page.fill('#ad-expression', 'exp(sin(x^2))');
    await page.click('#ad-run');
    await page.waitForSelector('#ad-result:not([hidden])');
    await page.click('#ad-next');
    await page.click('#ad-next');
  });

  await check('screenshot_saved', async () => {
    await page.evaluate(() => window.scrollTo(0, 0));
    const p = join(OUT, 'playground.png');
    await page.screenshot({ path: p, fullPage: true });
    assert(existsSync(p) && statSync(p).size > 10000, 'no screenshot');
    console.log(`  screenshots: ${p}, ${join(OUT, 'autodiff.png')}`);
  });

  await check('works_with_auth_on', async () => {
    if (!URL_AUTH) throw new Error('GS_AUTH_URL not set');
    const p2 = await ctx.newPage();
    watch(p2);
    expectErrors = true;
    await open(p2, `${URL_AUTH}/`);
    await p2.click('#step');
    await p2.waitForSelector('#error:not([hidden])', { timeout: 10000 });
    const t = await p2.locator('#error').innerText();
    assert(/401/.test(t) && /Bearer/.test(t), `without a token: ${t}`);
    expectErrors = false;
    await p2.fill('#token', TOKEN);
    await p2.click('#step');
    await p2.waitForFunction(() => Number(document.getElementById('epoch').textContent) > 0, null, { timeout: 15000 });
    assert(await p2.locator('#error').isHidden(), 'error still shown');
    await p2.selectOption('#curl-route', '/train');
    assert((await p2.locator('#curl').innerText()).includes(`Authorization: Bearer ${TOKEN}`), 'curl lacks the token');
    await p2.close();
  });

  // The page's own module, /static/gradserve.js (clients/js/gradserve.js), used
  // from the page's context the way another page would: typed arrays through
  // binary and b64 bodies equal the plain JSON answer bit for bit, and a
  // streamed /train counts its epochs.
  const XOR_NET = { inputs: 2, layers: [{ units: 3, activation: 'tanh' }, { units: 1, activation: 'sigmoid' }], loss: 'binary_cross_entropy' };
  const XOR_PARAMS = [{ weight: [[0.1, -0.2], [0.3, 0.4], [-0.5, 0.6]], bias: [0, 0.1, 0] }, { weight: [[0.5, -0.5, 0.25]], bias: [0] }];
  const XOR_X = [0, 0, 0, 1, 1, 0, 1, 1], XOR_Y = [0, 1, 1, 0];
  // The float32 bits of numbers, to compare answers exactly.
  const bits = (a) => Array.from(new Uint32Array(Float32Array.from(a.flat(Infinity)).buffer));
  const inPage = (encoding) => page.evaluate(async ([net, params, x, y, enc]) => {
    const { Client, tensor, Tensor } = await import('/static/gradserve.js');
    const gs = new Client();
    const body = { network: net, params, inputs: tensor(new Float32Array(x), [4, 2]), targets: tensor(new Float32Array(y), [4, 1]),
      return: { outputs: true } };
    const r = await gs.gradients(body, { encoding: enc });
    const b = (t) => (t instanceof Tensor ? { shape: t.shape, type: t.data.constructor.name, bits: Array.from(new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length)) } : null);
    const epochs = [];
    const tr = await gs.train({ ...body, return: undefined, optimizer: { name: 'adam', lr: 0.1 }, epochs: 4, batch_size: 2 },
      { encoding: enc, onEpoch: (l) => epochs.push(l.epoch) });
    return { loss: r.loss, dW: b(r.gradients[0].weight), out: b(r.outputs), epochs, trained: b(tr.params[1].weight) };
  }, [XOR_NET, XOR_PARAMS, XOR_X, XOR_Y, encoding]);

  await check('the_client_module_works_in_the_page', async () => {
    const hand = await post(URL_OPEN, '/gradients', { network: XOR_NET, params: XOR_PARAMS, inputs: [[0, 0], [0, 1], [1, 0], [1, 1]],
      targets: [[0], [1], [1], [0]], return: { outputs: true } });
    const handTrain = await post(URL_OPEN, '/train', { network: XOR_NET, params: XOR_PARAMS, inputs: [[0, 0], [0, 1], [1, 0], [1, 1]],
      targets: [[0], [1], [1], [0]], optimizer: { name: 'adam', lr: 0.1 }, epochs: 4, batch_size: 2 });
    const n = traffic.posts.length;
    for (const enc of ['binary', 'b64']) {
      const r = await inPage(enc);
      assert(r.loss === hand.loss, `${enc}: loss ${r.loss} vs ${hand.loss}`);
      assert(r.dW && r.dW.type === 'Float32Array' && r.dW.shape.join() === '3,2', `${enc}: dW ${JSON.stringify(r.dW)}`);
      assert(r.dW.bits.join() === bits(hand.gradients[0].weight).join(), `${enc}: dW differs from the JSON answer`);
      assert(r.out.bits.join() === bits(hand.outputs).join(), `${enc}: outputs differ`);
      assert(r.epochs.join() === '1,2,3,4', `${enc}: epochs ${r.epochs}`);
      assert(r.trained.bits.join() === bits(handTrain.params[1].weight).join(), `${enc}: trained weights differ`);
    }
    const sent = traffic.posts.slice(n);
    assert(sent.some((p) => p.path === '/gradients' && Buffer.isBuffer(p.body)), 'no binary body went out');
    assert(sent.some((p) => p.path === '/train' && /x-ndjson/.test(p.accept || '')), 'no streamed /train went out');
  });

  await check('the_client_module_uses_refs_in_the_page', async () => {
    const b64 = await inPage('b64');
    expectErrors = true; // the 409 is logged by Chromium
    const r = await page.evaluate(async ([net, params, x, y]) => {
      const { Client, tensor } = await import('/static/gradserve.js');
      const gs = new Client();
      const inputs = tensor(new Float32Array(x), [4, 2]);
      const body = { network: net, params, inputs, targets: tensor(new Float32Array(y), [4, 1]), return: { outputs: true } };
      const log = [];
      const traced = new Client({ onRequest: ({ method, route }) => log.push(`${method} ${route}`) });
      const x0 = await gs.putTensor(inputs);
      await gs.deleteTensor(x0); // the first request misses it: 409, upload, again
      const a = await traced.gradients(body, { encoding: 'ref' });
      const dW = await traced.getTensor(a.gradients[0].weight);
      return { log, ref: a.gradients[0].weight.ref, loss: a.loss, bits: Array.from(new Uint32Array(dW.data.buffer, dW.data.byteOffset, dW.data.length)) };
    }, [XOR_NET, XOR_PARAMS, XOR_X, XOR_Y]).finally(() => { expectErrors = false; });
    assert(/^sha256:[0-9a-f]{64}$/.test(r.ref), `ref ${r.ref}`);
    assert(r.loss === b64.loss && r.bits.join() === b64.dW.bits.join(), 'the ref answer differs from the b64 one');
    assert(/^POST \/gradients(, PUT \/tensors\/sha256:[0-9a-f]{64})+, POST \/gradients, GET \/tensors\//.test(r.log.join(', ')), `requests: ${r.log.join(', ')}`);
  });

  await check('no_console_errors', async () => {
    assert(consoleErrors.length === 0, consoleErrors.join(' | '));
  });

  await check('every_request_and_response_matches_openapi', async () => {
    assert(traffic.violations.length === 0, traffic.violations.slice(0, 5).join('\n'));
    const routes = new Set(traffic.posts.map((p) => p.path));
    for (const r of ['/train', '/gradients', '/forward', '/gradcheck', '/autodiff'])
      assert(routes.has(r), `the page never called ${r}`);
    console.log(`  ${traffic.posts.length} request bodies and ${traffic.responses} responses checked`);
  });

  await ctx.close();
  rmSync(dir, { recursive: true, force: true });
}

try {
  await main();
} catch (e) {
  fail('browser_run', e);
}
finish();
