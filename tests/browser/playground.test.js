// The playground in headless Chromium against the real server: it loads
// cleanly, trains XOR to 95% test accuracy by pressing Train, draws, checks
// gradients, shows the server's errors and network errors, copies a curl
// command that replays, works behind a token, and walks the chain rule of
// exp(sin(x^2)). Every request the page sends and every response it gets is
// checked against openapi.yaml. Prints PASS/FAIL per check and a count line.
//
// Environment: GS_URL (a server without auth), GS_AUTH_URL and GS_TOKEN (one
// with a token), OPENAPI (path of openapi.yaml), OUT (screenshots folder).
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync, existsSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadContract } from './contract.js';

const URL_OPEN = process.env.GS_URL;
const URL_AUTH = process.env.GS_AUTH_URL;
const TOKEN = process.env.GS_TOKEN || '';
const OUT = process.env.OUT || 'build/browser';
const contract = loadContract(process.env.OPENAPI || 'openapi.yaml');

let passed = 0, failed = 0;
async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`PASS ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}\n  ${String(e && e.stack ? e.message : e).split('\n').join('\n  ')}`);
  }
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }

// ---- what the page sends and receives --------------------------------------------

const traffic = { requests: 0, responses: 0, violations: [], posts: [], expected: [] };
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
      const body = req.postData() || '';
      traffic.posts.push({ path: u.pathname, body });
      const err = contract.checkRequest(req.method(), u.pathname, req.headers()['content-type'], body);
      if (err) (invalidBody ? traffic.expected : traffic.violations).push(err);
    }
  });
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
const pct = (s) => parseFloat(String(s).replace('%', ''));

async function open(page, url) {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="true"]', { timeout: 15000 });
}

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
  await check('xor_trains_to_95_percent_test_accuracy', async () => {
    assert((await page.locator('#dataset').inputValue()) === 'xor', 'xor is not the default');
    before = { boundary: await canvasData(page, 'boundary'), curves: await canvasData(page, 'curves'),
      magnitudes: await canvasData(page, 'magnitudes') };
    const t0 = Date.now();
    await page.click('#train');
    await page.waitForFunction(() => parseFloat(document.getElementById('test-acc').textContent) >= 95,
      null, { timeout: 90000, polling: 250 });
    await page.click('#pause');
    await page.waitForFunction(() => !document.getElementById('train').disabled, null, { timeout: 20000 });
    const acc = pct(await text(page, '#test-acc'));
    console.log(`  XOR: test accuracy ${acc}% after ${await text(page, '#epoch')} epochs, ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    assert(acc >= 95, `test accuracy ${acc}%`);
    const trains = traffic.posts.filter((p) => p.path === '/train').map((p) => JSON.parse(p.body));
    assert(trains.length >= 2, `${trains.length} /train calls`);
    assert(trains[0].init && !trains[0].params, 'the first /train does not initialise');
    assert(trains[1].params && trains[1].optimizer_state, 'later /train calls do not carry params and optimizer state');
  });

  await check('heatmap_curves_and_backprop_view_change', async () => {
    const after = { boundary: await canvasData(page, 'boundary'), curves: await canvasData(page, 'curves'),
      magnitudes: await canvasData(page, 'magnitudes') };
    for (const k of Object.keys(after)) assert(after[k] !== before[k], `${k} did not change`);
    const grads = traffic.posts.filter((p) => p.path === '/gradients').map((p) => JSON.parse(p.body));
    assert(grads.length && grads[0].return && grads[0].return.deltas === true, '/gradients without deltas');
    const loss = parseFloat(await text(page, '#train-loss'));
    assert(loss > 0 && loss < 0.3, `train loss ${loss}`);
  });

  await check('gradient_check_passes', async () => {
    await page.click('#gradcheck');
    await page.waitForSelector('#gradcheck-result p', { timeout: 20000 });
    const t = await text(page, '#gradcheck-result');
    assert(/passed/.test(t) && (await page.locator('#gradcheck-result .pass').count()) === 1, `result: ${t}`);
    assert((await page.locator('#gradcheck-result tr').count()) === 7, 'not one row per tensor (3 layers x 2)');
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
    await page.click('#step');
    await page.waitForFunction(() => document.getElementById('error').hidden, null, { timeout: 10000 });
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
  failed++;
  console.log(`FAIL browser_run\n  ${e.stack}`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
