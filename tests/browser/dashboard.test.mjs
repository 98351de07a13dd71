// dashboard.test.mjs - drive Debian's chromium (playwright-core, no
// downloaded browser) through the logseal dashboard served by a real
// `logseal serve`, and print one line per check: "ok - what" or
// "not ok - what" (t0600-browser.sh numbers them into TAP), "# ..." notes.
//
// Also: the overview's numbers against seeded traffic, filtering by
// clicking a value, hiding logseal's own events, exclusions, deep links,
// the UTC/local switch, ECS/OCSF downloads, the role-aware navigation (an
// auditor sees no admin pages, a writer-only token is told what to do),
// sessions (a reload keeps one; a state-changing call without the CSRF
// header is refused) when the server has them, a verify started from the
// overview, and axe-core on every screen (no serious or critical
// violation).
//
// Environment: LOGSEAL_URL (http://127.0.0.1:PORT), ADMIN_TOKEN (admin +
// auditor), WRITER_TOKEN, SHOTS (directory for the PNGs), PROFILE (a fresh
// chromium user data dir), CHROMIUM (default /usr/bin/chromium), LOGSEAL
// and DATA_DIR (the binary and the server's data directory, to run
// `logseal verify` while the server runs).
//
// The whole run is bounded: each wait has its own timeout and a watchdog
// ends the process after BUDGET_MS.  A check whose prerequisite failed is
// reported as failed at once instead of waiting again.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';

const BASE = process.env.LOGSEAL_URL;
const ADMIN = process.env.ADMIN_TOKEN;
const WRITER = process.env.WRITER_TOKEN;
const SHOTS = process.env.SHOTS || 'build/screenshots';
const PROFILE = process.env.PROFILE;
const LOGSEAL = process.env.LOGSEAL;	/* the binary, for `logseal verify` */
const DATA = process.env.DATA_DIR;	/* the server's data directory */
const BUDGET_MS = Number(process.env.BUDGET_MS || 60000);
if (!BASE || !ADMIN || !WRITER || !PROFILE) {
	console.log('not ok - environment: LOGSEAL_URL, ADMIN_TOKEN, WRITER_TOKEN and PROFILE are required');
	process.exit(1);
}
mkdirSync(SHOTS, { recursive: true });
const AXE = readFileSync(join(dirname(createRequire(import.meta.url).resolve('axe-core')), 'axe.min.js'), 'utf8');

let failures = 0;
const ok = (d) => console.log('ok - ' + d);
const notOk = (d, why) => {
	failures++;
	console.log('not ok - ' + d);
	if (why)
		for (const l of String(why).split('\n').slice(0, 6))
			console.log('#   ' + l);
};
const note = (s) => console.log('# ' + s);

let context = null;
const watchdog = setTimeout(async () => {
	notOk('the browser test finished within ' + BUDGET_MS / 1000 + ' s');
	try { await context?.close(); } catch (_) { /* exiting anyway */ }
	process.exit(1);
}, BUDGET_MS);

// step(name, fn, needs...): run fn unless a prerequisite value is missing.
async function step(name, fn, ...needs) {
	if (needs.some((n) => n === null || n === undefined || n === false)) {
		notOk(name, 'skipped work: an earlier check it depends on failed');
		return null;
	}
	try {
		const r = await fn();
		ok(name);
		return r === undefined ? true : r;
	} catch (e) {
		notOk(name, e && e.message ? e.message : e);
		return null;
	}
}

function assert(cond, msg) {
	if (!cond)
		throw new Error(msg);
}

async function post(events) {
	const r = await fetch(BASE + '/v1/events', {
		method: 'POST',
		headers: { Authorization: 'Bearer ' + WRITER, 'Content-Type': 'application/json' },
		body: JSON.stringify(events),
	});
	const j = await r.json().catch(() => ({}));
	assert(r.status === 200, 'POST /v1/events: ' + r.status + ' ' + JSON.stringify(j));
	return j.indexes;
}

function event(actor, action, outcome) {
	return {
		time: new Date().toISOString(),
		actor: { id: actor, type: 'user' },
		action,
		outcome,
		source: { ip: '198.51.100.23' },
		service: 'browser-test',
		resource: { type: 'doc', id: 'd-' + Math.floor(Math.random() * 1e6) },
	};
}

async function shot(page, name) {
	await page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: false });
}

async function waitText(locator, text, timeout) {
	await locator.filter({ hasText: text }).first().waitFor({ state: 'visible', timeout });
}

// axe-core in the page (evaluated over the DevTools protocol, so the CSP
// does not stop it): the serious and critical violations of the screen.
const axeSeen = [];
async function axeCheck(page, screen) {
	if (!await page.evaluate(() => !!window.axe))
		await page.evaluate(AXE);
	const res = await page.evaluate(() => window.axe.run(document, {
		resultTypes: ['violations'],
		runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
	}));
	const bad = res.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	axeSeen.push(screen);
	assert(!bad.length, screen + ': ' + bad.map((v) => v.id + ' (' + v.impact + '): ' +
		v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')).join('; '));
}

async function api(method, path, token, body) {
	const r = await fetch(BASE + path, {
		method,
		headers: Object.assign({ Authorization: 'Bearer ' + token },
			body ? { 'Content-Type': 'application/json' } : {}),
		body: body ? JSON.stringify(body) : undefined,
	});
	return { status: r.status, json: await r.json().catch(() => null) };
}

const tag = Date.now().toString(36);
const actor = 'browser-' + tag;
const intruder = 'intruder-' + tag;

context = await chromium.launchPersistentContext(PROFILE, {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	viewport: { width: 1366, height: 768 },
	timezoneId: 'America/New_York',	/* local time differs from UTC */
	acceptDownloads: true,
	timeout: 20000,
});
note('chromium ' + (context.browser()?.version() || '(persistent context)'));

const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(5000);
const requests = [], problems = [];
const pending = new Map();
page.on('request', (r) => {
	requests.push(r.url());
	pending.set(r, Date.now());
});
page.on('requestfinished', (r) => pending.delete(r));
page.on('requestfailed', (r) => pending.delete(r));
// For failure messages: requests still without a reply.
const stuck = () => [...pending].map(([r, t]) => r.method() + ' ' + new URL(r.url()).pathname +
	' (' + Math.round((Date.now() - t) / 1000) + ' s)').join(', ') || 'none';
page.on('console', (m) => {
	if (m.type() === 'error' && !/status of 40[134]/.test(m.text()))
		problems.push('console: ' + m.text());
});
page.on('pageerror', (e) => problems.push('page error: ' + e.message));

// ------------------------------------------------------------ seeded traffic
// Before anyone signs in: 6 events of service billing (4 success, 2 denied
// for one actor from one address) and 3 of crm, a minute ago.  The
// overview must show exactly these numbers (logseal's own events hidden).
const svcA = 'billing-' + tag, svcB = 'crm-' + tag, mallory = 'mallory-' + tag;
const seeded = await step('seeded traffic is posted (6 + 3 events, 2 denied)', async () => {
	const t = new Date(Date.now() - 60000).toISOString();
	const mk = (svc, actorId, outcome, action) => ({ time: t, actor: { id: actorId, type: 'user' }, action,
		outcome, source: { ip: '203.0.113.9' }, service: svc, resource: { type: 'invoice', id: 'i-1' } });
	const evs = [];
	for (let i = 0; i < 4; i++)
		evs.push(mk(svcA, 'carol-' + tag, 'success', 'invoice.read'));
	evs.push(mk(svcA, mallory, 'denied', 'invoice.delete'), mk(svcA, mallory, 'denied', 'invoice.delete'));
	for (let i = 0; i < 3; i++)
		evs.push(mk(svcB, 'dave-' + tag, 'success', 'contact.read'));
	await post(evs);
});
const sessions = (await fetch(BASE + '/v1/session')).status !== 404;
note('the server ' + (sessions ? 'has' : 'does not have') + ' sessions (GET /v1/session)');

// ------------------------------------------------------------ login
const loaded = await step('the dashboard loads at / and shows the sign-in page', async () => {
	const resp = await page.goto(BASE + '/', { waitUntil: 'load' });
	assert(resp && resp.status() === 200, 'GET / answered ' + (resp && resp.status()));
	await page.locator('#login-token').waitFor({ state: 'visible' });
	await shot(page, 'login');
	await axeCheck(page, 'sign-in');
});

const signedIn = await step('signing in with a token shows the overview, the home page', async () => {
	await page.fill('#login-token', ADMIN);
	await page.click('#login-form button[type=submit]');
	await page.locator('#nav').waitFor({ state: 'visible' });
	await page.locator('#page-overview').waitFor({ state: 'visible' });
}, loaded);

const overview = await step('the overview shows the seeded traffic\'s numbers by service and outcome', async () => {
	await page.waitForFunction(() => document.getElementById('ov-tiles').dataset.total !== undefined &&
		document.getElementById('ov-tiles').dataset.total !== 'null', null, { timeout: 8000 });
	const tiles = await page.evaluate(() => Object.assign({}, document.getElementById('ov-tiles').dataset));
	assert(tiles.total === '9' && tiles.denied === '2', 'tiles say ' + JSON.stringify(tiles) + ', seeded 9 events, 2 denied');
	const count = async (box, key) => page.locator(`#${box} .legend .count[data-key="${key}"]`).innerText();
	assert(await count('ov-service', svcA) === '6', svcA + ': ' + await count('ov-service', svcA));
	assert(await count('ov-service', svcB) === '3', svcB + ': ' + await count('ov-service', svcB));
	assert(await page.locator('#ov-service .legend .count[data-key="logseal"]').count() === 0,
		'logseal\'s own events are drawn although hidden');
	assert(await count('ov-outcome', 'success') === '7' && await count('ov-outcome', 'denied') === '2', 'outcomes');
	assert(await page.locator('#ov-service canvas').count() >= 1, 'no uPlot canvas in the service chart');
	await waitText(page.locator('#ov-denied-actors li'), mallory, 5000);
	const top = await page.locator('#ov-denied-actors li').first().innerText();
	assert(top.includes(mallory) && /\b2$/.test(top.trim()), 'top denied actor: ' + top);
	await waitText(page.locator('#ov-integrity'), 'latest checkpoint', 5000);
	await shot(page, 'overview');
	await axeCheck(page, 'overview');
}, signedIn, seeded);

await step('the overview\'s top denied actor links to the search of its denied events', async () => {
	await page.locator('#ov-denied-actors a', { hasText: mallory }).click();
	await page.locator('#page-search').waitFor({ state: 'visible' });
	await page.locator('#search-rows tr', { hasText: 'invoice.delete' }).first().waitFor({ timeout: 8000 });
	assert(await page.locator('#search-rows tr').count() === 2, 'rows: ' + await page.locator('#search-rows tr').count());
	assert(await page.inputValue('#q-actor') === mallory && await page.inputValue('#q-outcome') === 'denied', 'the form');
}, overview);

await step('the token is never stored in the browser (no web storage, readable cookie or URL)', async () => {
	const st = await page.evaluate(() => ({
		local: localStorage.length, session: sessionStorage.length, cookie: document.cookie,
		url: location.href,
	}));
	assert(st.local === 0 && st.session === 0, 'web storage holds ' + (st.local + st.session) + ' items');
	assert(st.cookie === '', 'a cookie was set');
	assert(!st.url.includes(ADMIN), 'the token is in the page URL');
}, signedIn);

// ------------------------------------------------------------ live tail
const live = await step('the live tail connects to /v1/stream', async () => {
	await page.click('#nav a[data-page=tail]');
	await waitText(page.locator('#tail-state'), 'live', 8000);
}, signedIn);

// Posted whether or not the stream works, so search and proofs are
// checked on their own.
const firstIndex = await step('a writer posts an event', async () => {
	const idx = await post([event(actor, 'dashboard.check', 'success')]);
	assert(Array.isArray(idx) && idx.length === 1, 'no index in the reply');
	return idx[0];
}, signedIn);

const tailed = await step('the posted event appears in the live tail', async () => {
	await waitText(page.locator('#tail-rows tr'), actor, 8000);
	await shot(page, 'tail');
	await axeCheck(page, 'live tail');
}, live, firstIndex);

await step('pausing the tail holds new events back; resuming delivers them', async () => {
	await page.click('#tail-pause');
	await waitText(page.locator('#tail-state'), 'paused', 2000);
	await post([event(actor, 'dashboard.paused', 'success')]);
	await page.waitForTimeout(1000);
	assert(await page.locator('#tail-rows tr', { hasText: 'dashboard.paused' }).count() === 0,
		'an event arrived while paused');
	await page.click('#tail-pause');
	await waitText(page.locator('#tail-rows tr'), 'dashboard.paused', 8000);
}, tailed);

// ------------------------------------------------------------ search
const found = await step('search by actor finds the event', async () => {
	await page.click('#nav a[data-page=search]');
	await page.click('#search-reset');
	await page.fill('#q-actor', actor);
	await page.selectOption('#q-order', 'asc');
	await page.click('#search-form button[type=submit]');
	const row = page.locator('#search-rows tr', { hasText: 'dashboard.check' }).first();
	await row.waitFor({ state: 'visible', timeout: 8000 });
	await shot(page, 'search');
	await axeCheck(page, 'search');
	return await row.getAttribute('data-index');
}, firstIndex);

await step('search results carry the posted index', async () => {
	assert(String(found) === String(firstIndex), 'table shows ' + found + ', POST gave ' + firstIndex);
}, found, firstIndex);

await step('the CSV export downloads through fetch with the token in a header', async () => {
	const [dl] = await Promise.all([
		page.waitForEvent('download', { timeout: 8000 }),
		page.click('#export-csv'),
	]);
	const path = await dl.path();
	const text = readFileSync(path, 'utf8');
	assert(text.includes(actor), 'the CSV does not name ' + actor);
	assert(/\.csv$/.test(dl.suggestedFilename()), 'file name ' + dl.suggestedFilename());
}, found);

await step('the bundle export downloads', async () => {
	const [dl] = await Promise.all([
		page.waitForEvent('download', { timeout: 8000 }),
		page.click('#export-bundle'),
	]);
	const text = readFileSync(await dl.path(), 'utf8');
	assert(text.split('\n').filter(Boolean).length >= 3, 'fewer than 3 lines (header, entry, manifest)');
}, found);

// ------------------------------------------------------------ event + proof
const verified = await step('opening the event shows its proof verified in the browser', async () => {
	await page.click(`#search-rows a[href="#/event/${found}"]`);
	await page.locator('#page-event').waitFor({ state: 'visible' });
	const mark = page.locator('#event-verdict .mark');
	await mark.waitFor({ state: 'visible', timeout: 8000 });
	const v = await mark.getAttribute('data-verified');
	const why = await page.locator('#event-verdict').innerText();
	assert(v === 'yes', 'verdict: ' + why);
	assert((await page.locator('#event-entry').innerText()).includes(actor), 'the entry is not shown');
	await shot(page, 'event');
	await axeCheck(page, 'event');
}, found);

await step('the event\'s evidence file downloads (entry, proof, checkpoint)', async () => {
	const [dl] = await Promise.all([
		page.waitForEvent('download', { timeout: 8000 }),
		page.click('#event-evidence'),
	]);
	const ev = JSON.parse(readFileSync(await dl.path(), 'utf8'));
	assert(dl.suggestedFilename() === 'logseal-evidence-' + found + '.json', 'file name ' + dl.suggestedFilename());
	assert(ev.evidence === 'logseal evidence v1' && String(ev.index) === String(found), 'not the evidence of ' + found);
	assert(Buffer.from(ev.entry_b64, 'base64').toString('utf8').includes(actor), 'the evidence does not hold the entry of ' + actor);
	assert(ev.checkpoint.includes('\u2014 ') && ev.tree_size > ev.index, 'no signed checkpoint beyond the entry');
}, verified);

await step('a tampered entry is shown as NOT verified', async () => {
	await page.route('**/v1/events/' + found, async (route) => {
		const resp = await route.fetch();
		const j = await resp.json();
		const bytes = Buffer.from(j.entry_b64, 'base64');
		const text = bytes.toString('utf8').replace('dashboard.check', 'dashboard.chock');
		j.entry_b64 = Buffer.from(text, 'utf8').toString('base64');
		delete j.leaf_hash;	/* a forger would fix this too */
		await route.fulfill({ response: resp, json: j });
	});
	await page.evaluate(() => { location.hash = '#/tail'; });
	await page.evaluate((i) => { location.hash = '#/event/' + i; }, found);
	await waitText(page.locator('#event-verdict'), 'NOT verified', 8000);
	await page.unroute('**/v1/events/' + found);
}, verified);

await step('ECS and OCSF downloads hold the event', async () => {
	await page.click('#nav a[data-page=search]');
	await page.locator('#search-rows tr', { hasText: 'dashboard.check' }).first().waitFor({ timeout: 8000 });
	for (const f of ['ecs', 'ocsf']) {
		const [dl] = await Promise.all([
			page.waitForEvent('download', { timeout: 8000 }),
			page.click('#export-' + f),
		]);
		const lines = readFileSync(await dl.path(), 'utf8').split('\n').filter(Boolean);
		assert(lines.length >= 1 && lines.some((l) => l.includes(actor)), f + ': no line names ' + actor);
		JSON.parse(lines[0]);
		assert(dl.suggestedFilename().endsWith('.' + f + '.ndjson'), 'file name ' + dl.suggestedFilename());
	}
}, found);

const clicked = await step('clicking a value in the results filters by it (and the URL keeps it)', async () => {
	await page.click('#search-reset');
	await page.locator('#search-rows tr').first().waitFor({ timeout: 8000 });
	await page.locator('#search-rows button.val[data-field=action]', { hasText: 'dashboard.paused' }).first().click();
	await page.waitForFunction(() => document.getElementById('q-action').value === 'dashboard.paused');
	await page.waitForFunction(() => [...document.querySelectorAll('#search-rows tr')].length > 0 &&
		[...document.querySelectorAll('#search-rows tr')].every((r) => r.innerText.includes('dashboard.paused')),
	null, { timeout: 8000 });
	const h = await page.evaluate(() => location.hash);
	assert(h.startsWith('#/search?') && h.includes('action=dashboard.paused'), 'hash: ' + h);
	assert(!h.includes(ADMIN), 'the token is in the URL');
}, found);

await step('logseal\'s own events are hidden by default, their count shown; unticking shows them', async () => {
	await page.click('#search-reset');
	await page.waitForFunction(() => /of logseal's own events hidden/.test(document.getElementById('search-summary').innerText),
		null, { timeout: 8000 });
	const sum = await page.locator('#search-summary').innerText();
	const m = /(\d+) of logseal's own events hidden in this range/.exec(sum);
	assert(m && Number(m[1]) > 0, 'summary: ' + sum);
	assert(await page.locator('#search-rows button.val[data-field=service]', { hasText: /^logseal$/ }).count() === 0,
		'a logseal row is shown');
	await page.uncheck('#q-hide-own');
	await page.locator('#search-rows button.val[data-field=service]', { hasText: /^logseal$/ }).first()
		.waitFor({ timeout: 8000 });
	await page.check('#q-hide-own');
}, found);

await step('the \u2260 button excludes a value', async () => {
	await page.fill('#q-actor', actor);
	await page.click('#search-form button[type=submit]');
	await page.locator('#search-rows button.val[data-field=action]', { hasText: 'dashboard.paused' }).first().waitFor({ timeout: 8000 });
	await page.locator('#search-rows tr', { hasText: 'dashboard.paused' }).first().locator('button.neg').nth(1).click();
	await page.locator('#search-chips .chip', { hasText: 'dashboard.paused' }).waitFor({ timeout: 5000 });
	await page.waitForFunction(() => !document.getElementById('search-rows').innerText.includes('dashboard.paused') &&
		document.getElementById('search-rows').innerText.includes('dashboard.check'), null, { timeout: 8000 });
	assert((await page.evaluate(() => location.hash)).includes('not.action=dashboard.paused'), 'the exclusion is not in the URL');
}, found);

await step('a deep link restores the filters and runs the search', async () => {
	const link = BASE + '/#/search?range=24h&actor=' + encodeURIComponent(actor) + '&not.action=dashboard.check&tz=local';
	await page.goto('about:blank');
	await page.goto(link, { waitUntil: 'load' });
	if (!sessions) {	/* no session: sign in again; the link is kept */
		await page.fill('#login-token', ADMIN);
		await page.click('#login-form button[type=submit]');
	}
	await page.locator('#page-search').waitFor({ state: 'visible', timeout: 8000 });
	await page.locator('#search-rows tr', { hasText: 'dashboard.paused' }).first().waitFor({ timeout: 8000 });
	assert(await page.inputValue('#q-actor') === actor, 'actor: ' + await page.inputValue('#q-actor'));
	assert(await page.inputValue('#q-range') === '24h', 'range');
	assert(await page.isChecked('#q-tz-local'), 'the time zone switch is not on local');
	assert(!(await page.locator('#search-rows').innerText()).includes('dashboard.check'), 'the exclusion was not restored');
	/* the table follows the switch: New York time in this browser */
	const t = await page.locator('#search-rows td.time').first().innerText();
	assert(/-0[45]:00$/.test(t), 'local time: ' + t);
	assert((await page.locator('#search-time-h').innerText()).includes('local'), 'column header');
	await page.check('#q-tz-utc');
	const u = await page.locator('#search-rows td.time').first().innerText();
	assert(/Z$/.test(u), 'UTC time: ' + u);
	await shot(page, 'search-deeplink');
}, found);

await step('a search is saved with a name, listed, reopened from the list and deleted', async () => {
	await page.locator('#saved summary').click();
	const name = 'paused-' + tag;
	await page.fill('#save-name', name);
	await page.click('#save-form button[type=submit]');
	const link = page.locator('#saved-list a', { hasText: name });
	await link.waitFor({ timeout: 5000 });
	await page.click('#search-reset');
	await page.waitForFunction(() => document.getElementById('q-actor').value === '');
	await link.click();
	await page.waitForFunction((a) => document.getElementById('q-actor').value === a, actor, { timeout: 5000 });
	await page.locator('#search-rows tr', { hasText: 'dashboard.paused' }).first().waitFor({ timeout: 8000 });
	await shot(page, 'search-saved');
	await page.locator('#saved-list li', { hasText: name }).getByRole('button', { name: /delete/ }).click();
	await link.waitFor({ state: 'detached', timeout: 5000 });
}, found);

// ------------------------------------------------------------ alerts
const denied = await step('five denied logins by one actor are accepted', async () => {
	const evs = [];
	for (let i = 0; i < 5; i++)
		evs.push(event(intruder, 'user.login', 'denied'));
	for (const e of evs)
		await post([e]);
}, signedIn);

await step('the alerts page lists the fired threshold alert', async () => {
	await page.click('#nav a[data-page=alerts]');
	const deadline = Date.now() + 12000;
	for (;;) {
		await page.waitForFunction(() => !document.getElementById('alerts-fired').innerText
			.includes('loading...'), null, { timeout: 5000 }).catch(() => {});
		const text = await page.locator('#alerts-fired').innerText();
		if (text.includes(intruder))
			break;
		if (Date.now() > deadline || /not available|lacks the role/.test(text))
			throw new Error('no fired alert names ' + intruder + '; page says: ' + text.slice(0, 200) +
				'\nrequests without a reply: ' + stuck());
		await page.waitForTimeout(800);
		await page.click('#alerts-refresh');
	}
	await shot(page, 'alerts');
	await axeCheck(page, 'alerts');
}, denied);

// ------------------------------------------------------------ other pages
await step('an admin creates and revokes a token on the tokens page', async () => {
	await page.click('#nav a[data-page=tokens]');
	await page.locator('#tokens-list table').waitFor({ state: 'visible', timeout: 5000 });
	const name = 'made-in-browser-' + tag;
	await page.fill('#tok-name', name);
	await page.click('#token-form button[type=submit]');
	await page.locator('#token-new').waitFor({ state: 'visible' });
	const secret = await page.inputValue('#token-secret');
	assert(secret.length > 20, 'no token secret shown');
	await shot(page, 'tokens');
	await axeCheck(page, 'tokens');
	await page.click('#token-hide');
	page.once('dialog', (d) => d.accept());
	const row = page.locator('#tokens-list tr', { hasText: name });
	await row.getByRole('button', { name: /Revoke/ }).click();
	await row.locator('button').waitFor({ state: 'detached', timeout: 5000 });
	const r = await fetch(BASE + '/log/checkpoint', { headers: { Authorization: 'Bearer ' + secret } });
	assert(r.status === 401, 'the revoked token still authenticates (' + r.status + ')');
}, signedIn);

const integrity = await step('the integrity page shows origin, tree size, key and "signature verified"', async () => {
	await page.click('#nav a[data-page=integrity]');
	await waitText(page.locator('#integrity-kv'), 'log origin', 5000);
	const text = await page.locator('#integrity-kv').innerText();
	assert(/key id [0-9a-f]{8}/.test(text), 'no key id in: ' + text.slice(0, 300));
	assert(/\+[0-9a-f]{8}\+[A-Za-z0-9+/]{40,}/.test(text), 'no full verifier key in: ' + text.slice(0, 300));
	assert(/latest checkpoint age\s+\d/.test(text), 'no checkpoint age in: ' + text.slice(0, 400));
	const mark = page.locator('#integrity-sig .mark');
	await mark.waitFor({ state: 'visible', timeout: 5000 });
	const why = await page.locator('#integrity-sig').innerText();
	assert(await mark.getAttribute('data-verified') === 'yes' && why.includes('signature verified'),
		'verdict: ' + why);
	await shot(page, 'integrity');
	await axeCheck(page, 'integrity');
}, signedIn);

await step('the event page says the checkpoint signature verified', async () => {
	await page.evaluate((i) => { location.hash = '#/event/' + i; }, found);
	await page.locator('#event-verdict .mark').waitFor({ state: 'visible', timeout: 5000 });
	const why = await page.locator('#event-verdict').innerText();
	assert(await page.locator('#event-verdict .mark').getAttribute('data-verified') === 'yes', 'verdict: ' + why);
	assert(/signature by .* checked in this browser/.test(why), 'the verdict does not mention the signature: ' + why);
	const sig = await page.locator('#event-checkpoint').innerText();
	assert(sig.includes('signature verified'), 'checkpoint block: ' + sig);
}, verified);

await step('after `logseal verify --data`, the integrity page shows the last full verify', async () => {
	const started = Date.now();
	const r = spawnSync(LOGSEAL, ['verify', '--data', DATA], { encoding: 'utf8', timeout: 20000 });
	note('logseal verify exited ' + r.status + ': ' + (r.stdout || '').split('\n')[0]);
	await page.click('#nav a[data-page=integrity]');
	await page.click('#integrity-refresh');
	const lv = page.locator('#integrity-last-verify');
	await lv.waitFor({ state: 'visible', timeout: 5000 });
	const text = await lv.innerText();
	const m = /(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d)/.exec(text);
	assert(m, 'no time in: ' + text);
	const t = Date.parse(m[1] + 'T' + m[2] + 'Z');
	assert(t >= Math.floor(started / 1000) * 1000 - 1000 && t <= Date.now() + 1000, 'the time ' + m[0] + ' is not this run\'s');
	/* the server keeps writing while verify runs: the outcome is shown as recorded */
	assert(r.status === 0 ? /\bok\b/.test(text) : /FAILED/.test(text), 'exit ' + r.status + ' but the page says: ' + text);
	assert(/\d+ entries/.test(text), 'no entry count in: ' + text);
	await shot(page, 'integrity-verified');
}, integrity, LOGSEAL && DATA ? true : null);

await step('a checkpoint whose signature was altered by one byte shows "signature NOT verified"', async () => {
	await page.route('**/v1/integrity', async (route) => {
		const resp = await route.fetch();
		const j = await resp.json();
		const cut = j.checkpoint.indexOf('\n\n');
		const lines = j.checkpoint.slice(cut + 2).split('\n');
		const sp = lines[0].lastIndexOf(' ');
		const raw = Buffer.from(lines[0].slice(sp + 1), 'base64');
		raw[raw.length - 1] ^= 0x01;	/* a signature byte, not the key id */
		lines[0] = lines[0].slice(0, sp + 1) + raw.toString('base64');
		j.checkpoint = j.checkpoint.slice(0, cut + 2) + lines.join('\n');
		await route.fulfill({ response: resp, json: j });
	});
	try {
		await page.click('#integrity-refresh');
		await waitText(page.locator('#integrity-sig'), 'signature NOT verified', 5000);
		assert(await page.locator('#integrity-sig .mark').getAttribute('data-verified') === 'no', 'mark is not "no"');
		await shot(page, 'integrity-tampered');
	} finally {
		await page.unroute('**/v1/integrity');
	}
	await page.click('#integrity-refresh');
	await waitText(page.locator('#integrity-sig'), 'signature verified', 5000);
}, integrity);

await step('the overview warns that the last verify is stale and an admin starts one that covers the log', async () => {
	const more = [];
	for (let i = 0; i < 60; i++)
		more.push(event(actor, 'dashboard.after-verify', 'success'));
	await post(more);
	await page.waitForTimeout(700);	/* a checkpoint beyond the verified size */
	await page.click('#nav a[data-page=integrity]');
	await page.click('#integrity-refresh');
	await waitText(page.locator('#integrity-stale'), 'Stale', 5000);
	assert(await page.locator('#integrity-verify').isVisible(), 'no verify button on the integrity page for an admin');
	await page.click('#nav a[data-page=overview]');
	await waitText(page.locator('#ov-verify-state'), 'Stale', 8000);
	await shot(page, 'overview-stale');
	await page.click('#ov-verify');
	await page.waitForFunction(() => /passed/.test(document.getElementById('ov-last-verify')?.innerText || '') &&
		!/Stale|running/.test(document.getElementById('ov-verify-state')?.innerText || ''), null, { timeout: 20000 });
	const r = await api('GET', '/v1/verify', ADMIN);
	assert(r.status === 200 && r.json.last && r.json.last.ok === true, 'GET /v1/verify: ' + JSON.stringify(r.json));
}, overview);

await step('the retention page shows the policy state and, for an admin, the legal holds', async () => {
	await page.click('#nav a[data-page=retention]');
	await page.locator('#retention-policy > *').first().waitFor({ state: 'visible', timeout: 5000 });
	await waitText(page.locator('#retention-archive'), 'entries archived', 5000);
	const pol = await page.locator('#retention-policy').innerText();
	assert(/No retention policy|Service/.test(pol), 'policy: ' + pol);
	await waitText(page.locator('#retention-holds'), 'no legal holds', 5000);
	await shot(page, 'retention');
	await axeCheck(page, 'retention');
}, signedIn);

await step('keyboard: Tab reaches the navigation and Enter opens a page', async () => {
	await page.evaluate(() => { document.activeElement?.blur(); window.scrollTo(0, 0); });
	await page.focus('body');
	let reached = false;
	for (let i = 0; i < 15 && !reached; i++) {
		await page.keyboard.press('Tab');
		reached = await page.evaluate(() => document.activeElement?.dataset?.page === 'search');
	}
	assert(reached, 'Tab never focused the Search link');
	await page.keyboard.press('Enter');
	await page.locator('#page-search').waitFor({ state: 'visible' });
	assert(await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle !== 'none' ||
		document.activeElement.tagName === 'H1'), 'no visible focus');
}, signedIn);

// ------------------------------------------------------------ phone size
await step('phone-sized screen (390x844): tail and event pages fit', async () => {
	await page.setViewportSize({ width: 390, height: 844 });
	await page.click('#nav a[data-page=tail]');
	await page.waitForTimeout(500);
	await shot(page, 'tail-phone');
	const wide = await page.evaluate(() => document.documentElement.scrollWidth);
	assert(wide <= 400, 'the page is ' + wide + ' px wide on a 390 px screen');
	await page.click('#nav a[data-page=overview]');
	await page.locator('#ov-service .legend').waitFor({ timeout: 8000 });
	await shot(page, 'overview-phone');
	const wide2 = await page.evaluate(() => document.documentElement.scrollWidth);
	assert(wide2 <= 400, 'the overview is ' + wide2 + ' px wide on a 390 px screen');
	await axeCheck(page, 'overview on a phone');
	if (found !== null) {
		await page.evaluate((i) => { location.hash = '#/event/' + i; }, found);
		await page.locator('#event-verdict .mark').waitFor({ state: 'visible', timeout: 5000 });
		await shot(page, 'event-phone');
	}
	await page.setViewportSize({ width: 1366, height: 768 });
}, signedIn);

// ------------------------------------------------------------ hygiene
await step('every request stayed on the logseal server and none carried the token in its URL', async () => {
	const origin = new URL(BASE).origin;
	const bad = requests.filter((u) => !(u.startsWith(origin + '/') || u.startsWith('blob:' + origin) ||
		u.startsWith('data:')));
	assert(!bad.length, 'requests elsewhere: ' + bad.slice(0, 3).join(' '));
	const leaked = requests.filter((u) => u.includes(ADMIN));
	assert(!leaked.length, 'token in a URL: ' + leaked[0]);
}, loaded);

await step('no script errors or CSP violations', async () => {
	assert(!problems.length, problems.slice(0, 5).join('\n'));
}, loaded);

await step(sessions ? 'a reload keeps the session' : 'a reload asks for the token again (no sessions on this server)', async () => {
	await page.reload({ waitUntil: 'load' });
	if (sessions) {
		await page.locator('#nav').waitFor({ state: 'visible', timeout: 5000 });
		assert(await page.locator('#page-login').isHidden(), 'the sign-in page is shown');
	} else {
		await page.locator('#page-login').waitFor({ state: 'visible' });
		assert(await page.locator('#nav').isHidden(), 'the navigation is shown without a token');
	}
}, signedIn);

if (sessions)
	await step('a state-changing call with the session cookie but no CSRF header is refused', async () => {
		const st = await page.evaluate(async () => (await fetch('/v1/verify', { method: 'POST', credentials: 'same-origin' })).status);
		assert(st === 403 || st === 401, 'POST without X-CSRF-Token answered ' + st);
	}, signedIn);

async function signInAs(tok) {
	/* after a load: the kept session resumes, or the sign-in page shows */
	await page.waitForFunction(() => !document.getElementById('logout').hidden ||
		!document.getElementById('page-login').hidden, null, { timeout: 5000 });
	if (await page.locator('#logout').isVisible())
		await page.click('#logout');
	await page.locator('#login-token').waitFor({ state: 'visible' });
	await page.fill('#login-token', tok);
	await page.click('#login-form button[type=submit]');
	await page.locator('#logout').waitFor({ state: 'visible' });
}

await step('an auditor sees no admin pages, and the alerts page asks for no rules', async () => {
	const r = await api('POST', '/v1/tokens', ADMIN, { roles: ['auditor'], name: 'browser-auditor-' + tag });
	assert(r.status === 201, 'token: ' + r.status);
	await page.goto(BASE + '/', { waitUntil: 'load' });
	await signInAs(r.json.token);
	await page.locator('#page-overview').waitFor({ state: 'visible' });
	assert(await page.locator('#nav a[data-page=tokens]').isHidden(), 'the Tokens tab is shown to an auditor');
	assert(await page.locator('#ov-verify').count() === 0, 'the verify button is shown to an auditor');
	assert(await page.locator('#integrity-verify').isHidden(), 'the integrity page\'s verify button is shown to an auditor');
	const before = requests.length;
	await page.click('#nav a[data-page=alerts]');
	await page.waitForFunction(() => !document.getElementById('alerts-fired').innerText.includes('loading...'), null, { timeout: 5000 });
	assert(!requests.slice(before).some((u) => u.includes('/v1/alerts/rules')), 'the auditor\'s page asked for the rules');
	assert(await page.locator('#alerts-rules').isHidden(), 'the rules section is shown');
	assert(await page.locator('#alerts-fired .error').count() === 0, 'an error on the alerts page');
	await page.evaluate(() => { location.hash = '#/tokens'; });
	await page.locator('#page-overview').waitFor({ state: 'visible', timeout: 5000 });
	await shot(page, 'overview-auditor');
	await axeCheck(page, 'overview (auditor)');
}, signedIn);

await step('a writer-only token is told what it can do instead of seeing errors', async () => {
	await page.goto(BASE + '/', { waitUntil: 'load' });
	await signInAs(WRITER);
	await page.locator('#page-noaccess').waitFor({ state: 'visible', timeout: 5000 });
	assert(await page.locator('#nav li:not([hidden]) a').count() === 0, 'pages are offered to a writer');
	await shot(page, 'writer');
	await axeCheck(page, 'writer');
	await page.click('#logout');
}, signedIn);

await step('a bad search shows a visible error (not muted text)', async () => {
	await page.goto('about:blank');
	await page.goto(BASE + '/#/search?range=abs&from=2030-01-01T00:00:00Z&to=2020-01-01T00:00:00Z&source_ip=999.1.1.1', { waitUntil: 'load' });
	if (!sessions || await page.locator('#page-login').isVisible()) {
		await page.fill('#login-token', ADMIN);
		await page.click('#login-form button[type=submit]');
	}
	const err = page.locator('#search-summary.error');
	await err.waitFor({ state: 'visible', timeout: 8000 });
	const color = await err.evaluate((e) => getComputedStyle(e).color);
	assert(color === 'rgb(179, 38, 30)', 'error colour ' + color);
	await shot(page, 'search-error');
}, signedIn);

note('axe-core checked: ' + axeSeen.join(', '));

clearTimeout(watchdog);
await context.close();
note('screenshots in ' + SHOTS);
process.exit(failures ? 1 : 0);
