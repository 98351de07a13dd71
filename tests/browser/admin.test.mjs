// admin.test.mjs - the dashboard's admin screens (web/admin.js) and its
// session, driven in Debian's chromium (playwright-core) against a real
// `logseal serve`; one line per check, "ok - what" / "not ok - what"
// (t0607-browser-admin.sh numbers them into TAP), "# ..." notes.
//
// Signs in as an admin (the token becomes an HttpOnly session cookie),
// shows a rule's validation message from the server by its field, tests
// and creates a threshold rule, sees it fire and acknowledges it with a
// reason, places and releases a legal hold, sends a webhook test and reads
// its history, loads the admin page by overlapping loads (a hash change
// that app.js and admin.js both act on, two hash changes back to back,
// show() twice at once, an older answer that comes last) and finds each
// rule, alert, webhook and hold listed exactly once (and the overview and
// the saved searches likewise: an older answer that comes last draws
// nothing), has a state-changing call without X-CSRF-Token refused (403),
// keeps the session over a reload, runs axe-core on the screens (zero
// serious or critical violations), then signs in as an auditor, who sees
// no admin screens.
// Screenshots go to SHOTS.
//
// Environment: LOGSEAL_URL, ADMIN_TOKEN, WRITER_TOKEN, AUDITOR_TOKEN,
// SHOTS, PROFILE, CHROMIUM, BUDGET_MS.
import { chromium } from 'playwright-core';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const BASE = process.env.LOGSEAL_URL;
const ADMIN = process.env.ADMIN_TOKEN;
const WRITER = process.env.WRITER_TOKEN;
const AUDITOR = process.env.AUDITOR_TOKEN;
const SHOTS = process.env.SHOTS || 'build/screenshots';
const PROFILE = process.env.PROFILE;
const BUDGET_MS = Number(process.env.BUDGET_MS || 90000);
if (!BASE || !ADMIN || !WRITER || !AUDITOR || !PROFILE) {
	console.log('not ok - environment: LOGSEAL_URL, ADMIN_TOKEN, WRITER_TOKEN, AUDITOR_TOKEN and PROFILE are required');
	process.exit(1);
}
mkdirSync(SHOTS, { recursive: true });
const here = dirname(fileURLToPath(import.meta.url));
const AXE = readFileSync(join(here, 'node_modules/axe-core/axe.min.js'), 'utf8');

let failures = 0;
const ok = (d) => console.log('ok - ' + d);
const notOk = (d, why) => {
	failures++;
	console.log('not ok - ' + d);
	if (why)
		for (const l of String(why).split('\n').slice(0, 8))
			console.log('#   ' + l);
};
const note = (s) => console.log('# ' + s);
let context = null;
const watchdog = setTimeout(async () => {
	notOk('the admin browser test finished within ' + BUDGET_MS / 1000 + ' s');
	try { await context?.close(); } catch (_) { /* exiting anyway */ }
	process.exit(1);
}, BUDGET_MS);

async function step(name, fn, ...needs) {
	if (needs.some((n) => n === null || n === undefined || n === false)) {
		notOk(name, 'skipped: an earlier check it depends on failed');
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
async function api(method, path, token, body) {
	const r = await fetch(BASE + path, {
		method,
		headers: Object.assign({ Authorization: 'Bearer ' + token },
			body ? { 'Content-Type': 'application/json' } : {}),
		body: body ? JSON.stringify(body) : undefined,
	});
	return { status: r.status, json: await r.json().catch(() => ({})) };
}
const shot = (page, name) => page.screenshot({ path: join(SHOTS, name + '.png'), fullPage: true });

/* axe-core in the page (evaluated through the debugging protocol: the
 * page's CSP, which allows no inline script, stays as it is). */
async function axe(page, selector) {
	if (!await page.evaluate(() => !!window.axe))
		await page.evaluate(AXE);
	const res = await page.evaluate(async (sel) => {
		const r = await window.axe.run(document.querySelector(sel),
			{ runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } });
		return r.violations.map((v) => ({ id: v.id, impact: v.impact, n: v.nodes.length,
			target: v.nodes[0] && v.nodes[0].target.join(' ') }));
	}, selector);
	const bad = res.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	for (const v of res)
		note('axe ' + selector + ': ' + v.impact + ' ' + v.id + ' x' + v.n + ' (' + v.target + ')');
	assert(bad.length === 0, bad.length + ' serious violations: ' + bad.map((v) => v.id).join(', '));
}

const tag = Date.now().toString(36);
const ruleName = 'denials ' + tag;
const who = 'mallory-' + tag;

context = await chromium.launchPersistentContext(PROFILE, {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
	headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	viewport: { width: 1366, height: 900 },
	timeout: 20000,
});
const page = context.pages()[0] || await context.newPage();
page.setDefaultTimeout(6000);
const problems = [];
page.on('pageerror', (e) => problems.push('page error: ' + e.message));
page.on('console', (m) => {
	if (m.type() === 'error' && !/status of 40[01349]/.test(m.text()))
		problems.push('console: ' + m.text());
});

// ------------------------------------------------------------ session
const signedIn = await step('an admin signs in and gets the Admin page link', async () => {
	await page.goto(BASE + '/', { waitUntil: 'load' });
	await page.fill('#login-token', ADMIN);
	await page.click('#login-form button[type=submit]');
	await page.locator('#nav').waitFor({ state: 'visible' });
	await page.locator('#nav-admin').waitFor({ state: 'visible' });
});

await step('the session cookie is HttpOnly, SameSite=Strict, invisible to the page', async () => {
	const c = (await context.cookies(BASE)).find((x) => x.name === 'logseal_session');
	assert(c, 'no logseal_session cookie');
	assert(c.httpOnly, 'not HttpOnly');
	assert(c.sameSite === 'Strict', 'SameSite ' + c.sameSite);
	assert(/^[0-9a-f]{64}$/.test(c.value), 'not 256 random bits in hex');
	const dc = await page.evaluate(() => document.cookie);
	assert(!dc.includes('logseal_session'), 'document.cookie shows it');
	const st = await page.evaluate(() => localStorage.length + sessionStorage.length);
	assert(st === 0, 'web storage holds ' + st + ' items');
}, signedIn);

const adminPage = await step('the Admin page lists the rules', async () => {
	await page.click('#nav-admin');
	await page.locator('#admin-body').waitFor({ state: 'visible' });
	await page.locator('#admin-rules table tr[data-rule]').first().waitFor({ state: 'visible' });
}, signedIn);

// ------------------------------------------------------------ rules
await step('a bad rule shows the server\'s message by its field', async () => {
	await page.fill('#rule-name', ruleName);
	await page.selectOption('#rule-kind', 'threshold');
	await page.selectOption('#rule-filter-outcome', 'denied');
	await page.fill('#rule-filter-service', 'admin-test');
	await page.fill('#rule-threshold-count', '0');
	await page.fill('#rule-threshold-window_seconds', '60');
	await page.selectOption('#rule-threshold-group_by', 'actor');
	await page.click('#rule-form button[type=submit]');
	const err = page.locator('#rule-threshold-count-err');
	await err.filter({ hasText: '1..' }).waitFor({ state: 'visible' });
	assert(await page.locator('#rule-threshold-count').getAttribute('aria-invalid') === 'true',
		'the field is not marked invalid');
	assert(await page.locator('#rule-msg [role=alert]').count() === 1, 'no error in the form');
	await shot(page, 'admin-rule-invalid');
}, adminPage);

await step('testing the rule reports whether it would fire', async () => {
	await page.fill('#rule-threshold-count', '3');
	await page.click('#rule-test');
	await page.locator('#rule-msg').filter({ hasText: /Would (not )?fire/ }).waitFor();
	const t = await page.locator('#rule-msg').textContent();
	assert(/Would not fire/.test(t), 'an unused service fired: ' + t);
}, adminPage);

const created = await step('saving creates the threshold rule', async () => {
	await page.click('#rule-form button[type=submit]');
	await page.locator('#admin-rules tr', { hasText: ruleName }).waitFor();
}, adminPage);

const fired = await step('three denials fire it: the alert shows as open', async () => {
	const evs = [1, 2, 3].map((i) => ({
		time: new Date().toISOString(), actor: { id: who, type: 'user' }, action: 'doc.read',
		outcome: 'denied', source: { ip: '198.51.100.' + i }, service: 'admin-test',
	}));
	const r = await api('POST', '/v1/events', WRITER, evs);
	assert(r.status === 200, 'POST /v1/events ' + r.status);
	const row = page.locator('#admin-fired tr[data-alert]', { hasText: ruleName });
	for (let i = 0; i < 20 && !await row.count(); i++) {
		await page.waitForTimeout(500);
		await page.click('#admin-refresh');
		await page.locator('#admin-fired').locator('table, p').first().waitFor();
	}
	await row.first().waitFor();
	assert((await row.first().textContent()).includes('open'), 'not open');
	return true;
}, created);

await step('acknowledging needs a reason, then shows who and why', async () => {
	const row = page.locator('#admin-fired tr[data-alert]', { hasText: ruleName }).first();
	await row.locator('button', { hasText: 'Acknowledge' }).click();
	await page.locator('#ack-form').waitFor({ state: 'visible' });
	await page.click('#ack-form button[type=submit]');
	await page.locator('#ack-msg [role=alert]').waitFor();
	await page.fill('#ack-reason', 'on call looked: a test');
	await page.click('#ack-form button[type=submit]');
	const acked = page.locator('#admin-fired tr[data-alert]', { hasText: ruleName }).first();
	await acked.filter({ hasText: 'acknowledged' }).waitFor();
	assert((await acked.textContent()).includes('on call looked'), 'the reason is not shown');
	await shot(page, 'admin-alert-acknowledged');
}, fired);

await step('the acknowledgement is a logged event with who and why', async () => {
	const r = await api('GET', '/v1/events?service=logseal&action=logseal.alert.acknowledge', ADMIN);
	const e = r.json.events && r.json.events[0] && r.json.events[0].entry;
	assert(e, 'no logseal.alert.acknowledge event');
	assert(e.details.reason === 'on call looked: a test', 'reason ' + JSON.stringify(e.details));
	assert(/^tok_/.test(e.actor.id), 'actor ' + e.actor.id);
}, fired);

await step('editing the rule and disabling it show in the list', async () => {
	const row = () => page.locator('#admin-rules tr', { hasText: ruleName }).first();
	await row().locator('button', { hasText: 'Edit' }).click();
	assert(await page.inputValue('#rule-name') === ruleName, 'the form holds another rule');
	assert(await page.inputValue('#rule-threshold-count') === '3', 'count not loaded');
	await page.fill('#rule-threshold-count', '4');
	await page.click('#rule-form button[type=submit]');
	await row().filter({ hasText: '≥ 4 in 60 s' }).waitFor();
	/* the State cell exactly: the row's text also holds its buttons' */
	const stateCell = () => row().locator('td').nth(4);
	await row().locator('button', { hasText: 'Disable' }).click();
	await stateCell().filter({ hasText: /^disabled$/ }).waitFor();
	await row().locator('button', { hasText: 'Enable' }).click();
	await stateCell().filter({ hasText: /^enabled$/ }).waitFor();
	const r = await api('GET', '/v1/events?service=logseal&action=logseal.rule.update', ADMIN);
	assert(r.json.events.length === 3, r.json.events.length + ' logseal.rule.update events');
}, fired);

await step('resolving the acknowledged alert needs a reason too', async () => {
	const row = () => page.locator('#admin-fired tr[data-alert]', { hasText: ruleName }).first();
	await row().locator('button', { hasText: 'Resolve' }).click();
	await page.fill('#ack-reason', 'false positive: test traffic');
	await page.click('#ack-form button[type=submit]');
	await row().filter({ hasText: 'resolved' }).waitFor();
	assert(await row().locator('button').count() === 0, 'a resolved alert still has actions');
}, fired);

// ------------------------------------------------------------ holds
const held = await step('placing a legal hold with a reason lists it', async () => {
	await page.selectOption('#hold-kind', 'service');
	await page.fill('#hold-value', 'admin-test');
	await page.fill('#hold-reason', 'case ' + tag);
	await page.click('#hold-form button[type=submit]');
	await page.locator('#admin-holds tr[data-hold]', { hasText: 'case ' + tag }).waitFor();
	await shot(page, 'admin-holds');
	return await page.locator('#admin-holds tr[data-hold]', { hasText: 'case ' + tag }).getAttribute('data-hold');
}, adminPage);

await step('releasing the hold asks why and removes it', async () => {
	page.once('dialog', (d) => d.accept('case closed ' + tag));
	await page.locator('#admin-holds tr[data-hold="' + held + '"] button', { hasText: 'Release' }).click();
	await page.locator('#admin-holds tr[data-hold="' + held + '"]').waitFor({ state: 'detached' });
	const r = await api('GET', '/v1/events?service=logseal&action=logseal.hold.release', ADMIN);
	const e = r.json.events && r.json.events[0] && r.json.events[0].entry;
	assert(e && e.details.release_reason === 'case closed ' + tag, 'release event ' + JSON.stringify(e && e.details));
}, held);

// ------------------------------------------------------------ webhooks
await step('a webhook test is reported and shows in its delivery history', async () => {
	const r = await api('POST', '/v1/alerts/webhooks', ADMIN,
		{ name: 'self', url: BASE + '/healthz', secret: 'x'.repeat(16) });
	assert(r.status === 200, 'POST /v1/alerts/webhooks ' + r.status + ' ' + JSON.stringify(r.json));
	await page.click('#admin-refresh');
	await page.locator('#admin-hooks tr', { hasText: 'self' }).locator('button', { hasText: 'Send test' }).click();
	await page.locator('#admin-deliveries tr', { hasText: 'test_failed' }).waitFor({ timeout: 10000 });
	await page.locator('#admin-status [role=alert]').filter({ hasText: 'HTTP 405' }).waitFor();
	await shot(page, 'admin-webhooks');
}, adminPage);

// ------------------------------------------------------------ overlapping loads
/* Requests to /v1/ in flight from the page; settled(): none for 400 ms. */
let inflight = 0;
const isApi = (r) => new URL(r.url()).pathname.startsWith('/v1/');
page.on('request', (r) => { if (isApi(r)) inflight++; });
page.on('requestfinished', (r) => { if (isApi(r)) inflight--; });
page.on('requestfailed', (r) => { if (isApi(r)) inflight--; });
async function settled() {
	for (let quiet = 0, i = 0; quiet < 4; i++) {
		assert(i < 150, inflight + ' requests still in flight after 15 s');
		await page.waitForTimeout(100);
		quiet = inflight <= 0 ? quiet + 1 : 0;
	}
}
/* Every list of the admin page holds each of the server's items exactly
 * once: rules, fired alerts, webhooks, holds, and one retention plan. */
async function listedOnce(what) {
	const [rl, al, wl, hl] = await Promise.all([api('GET', '/v1/alerts/rules', ADMIN),
		api('GET', '/v1/alerts?limit=100', ADMIN), api('GET', '/v1/alerts/webhooks', ADMIN),
		api('GET', '/v1/holds', ADMIN)]);
	const count = (sel) => page.locator(sel).count();
	const bad = [];
	const expect = async (sel, n, name) => {
		const got = await count(sel);
		if (got !== n)
			bad.push(name + ': ' + got + ' rows, expected ' + n);
	};
	await expect('#admin-rules tr[data-rule]', rl.json.rules.length, 'rules');
	for (const r of rl.json.rules)
		await expect('#admin-rules tr[data-rule="' + r.id + '"]', 1, 'rule ' + r.name);
	await expect('#admin-fired tr[data-alert]', al.json.alerts.length, 'fired alerts');
	await expect('#admin-hooks tbody tr', wl.json.webhooks.length, 'webhooks');
	await expect('#admin-holds tr[data-hold]', hl.json.holds.length, 'holds');
	for (const h of hl.json.holds)
		await expect('#admin-holds tr[data-hold="' + h.id + '"]', 1, 'hold ' + h.id);
	await expect('#admin-plan > *', 1, 'retention plan (none configured: one line)');
	await expect('#admin-rules table, #admin-fired table, #admin-hooks table, #admin-holds table', 4, 'tables');
	assert(rl.json.rules.length >= 2 && wl.json.webhooks.length >= 1 && hl.json.holds.length >= 1 &&
		al.json.alerts.length >= 1, 'too little to list: ' + [rl, al, wl, hl].map((x) => x.status).join(' '));
	assert(bad.length === 0, what + ': ' + bad.join('; '));
}

const dupHold = await step('a hold for the overlapping loads (placed through the API)', async () => {
	const r = await api('POST', '/v1/holds', ADMIN, { service: 'dup-' + tag, reason: 'overlap ' + tag });
	assert((r.status === 200 || r.status === 201) && r.json.id, 'POST /v1/holds ' + r.status + ' ' + JSON.stringify(r.json));
	return r.json.id;
}, adminPage);

await step('returning to #/admin (app.js and admin.js both load it): each item listed once', async () => {
	await page.evaluate(() => { location.hash = '#/overview'; });
	await page.locator('#page-overview').waitFor({ state: 'visible' });
	await settled();
	await page.evaluate(() => { location.hash = '#/admin'; });
	await page.locator('#admin-holds tr[data-hold="' + dupHold + '"]').waitFor();
	await settled();
	await listedOnce('after one hash change');
}, dupHold);

await step('two hash changes back to back: each item listed once', async () => {
	await page.evaluate(() => { location.hash = '#/admin?a=1'; location.hash = '#/admin?b=2'; });
	await page.waitForTimeout(50);
	await settled();
	await listedOnce('after two hash changes');
}, dupHold);

await step('show() twice at once (window.logsealAdmin): each item listed once', async () => {
	await page.evaluate(() => Promise.all([window.logsealAdmin.show(), window.logsealAdmin.show()]));
	await settled();
	await listedOnce('after show() twice');
}, dupHold);

await step('an older load answered last does not draw over the newer one', async () => {
	let held = false, release = null;
	const gate = new Promise((r) => { release = r; });
	const hold = async (route) => {
		if (route.request().method() !== 'GET' || held)
			return route.continue();
		held = true;
		const resp = await route.fetch();	/* the list before the new rule */
		await gate;
		await route.fulfill({ response: resp });
	};
	await page.route('**/v1/alerts/rules', hold);
	try {
		const older = page.evaluate(() => window.logsealAdmin.show());
		for (let i = 0; !held; i++) {
			assert(i < 100, 'the first load did not ask for the rules');
			await page.waitForTimeout(50);
		}
		const late = 'late ' + tag;
		const c = await api('POST', '/v1/alerts/rules', ADMIN,
			{ name: late, kind: 'match', filter: { outcome: 'denied', service: 'late-' + tag } });
		assert(c.status === 200 || c.status === 201, 'POST /v1/alerts/rules ' + c.status + ' ' + JSON.stringify(c.json));
		await page.evaluate(() => window.logsealAdmin.show());
		await page.locator('#admin-rules tr', { hasText: late }).waitFor();
		release();
		await older;
		await settled();
		assert(await page.locator('#admin-rules tr', { hasText: late }).count() === 1,
			'the new rule is not listed once after the older answer came');
		await listedOnce('after an older answer came last');
	} finally {
		release();
		await page.unroute('**/v1/alerts/rules', hold);
	}
}, dupHold);

// ------------------------------------------------------------ CSRF
await step('a state-changing call with the cookie but no X-CSRF-Token is refused (403)', async () => {
	const r = await page.evaluate(async () => {
		const resp = await fetch('/v1/alerts/rules', { method: 'POST', credentials: 'same-origin',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ name: 'csrf', kind: 'match', filter: { outcome: 'denied' } }) });
		return { status: resp.status, body: await resp.text() };
	});
	assert(r.status === 403, 'answered ' + r.status + ' ' + r.body);
	assert(/CSRF/.test(r.body), 'says ' + r.body);
	const list = await api('GET', '/v1/alerts/rules', ADMIN);
	assert(!list.json.rules.some((x) => x.name === 'csrf'), 'the rule was created anyway');
}, signedIn);

// ------------------------------------------------------------ axe
await step('axe-core: no serious violations on the admin screens', async () => {
	await page.click('#admin-refresh');
	await page.locator('#admin-plan').locator('table, p').first().waitFor();
	await axe(page, '#page-admin');
	await axe(page, 'header');
	await shot(page, 'admin');
}, adminPage);

// ------------------------------------------------------------ reload
await step('a reload keeps the session: the admin screens open without the token', async () => {
	await page.goto(BASE + '/#/admin', { waitUntil: 'load' });
	await page.reload({ waitUntil: 'load' });
	await page.locator('#admin-body').waitFor({ state: 'visible' });
	await page.locator('#admin-rules tr', { hasText: ruleName }).waitFor();
	const s = await page.evaluate(async () => (await fetch('/v1/session')).status);
	assert(s === 200, 'GET /v1/session ' + s);
}, created);

await step('on a phone-sized screen the admin page has no horizontal overflow of its forms', async () => {
	await page.setViewportSize({ width: 390, height: 844 });
	await page.locator('#rule-form').waitFor();
	const w = await page.evaluate(() => document.querySelector('#rule-form').scrollWidth <=
		document.documentElement.clientWidth + 1);
	assert(w, 'the rule form is wider than the screen');
	await shot(page, 'admin-phone');
	await page.setViewportSize({ width: 1366, height: 900 });
}, adminPage);

// ------------------------------------------------------------ overlapping loads: overview, search
/* hold(match): page.route()s the requests match(URL) takes; each is sent
 * at once (its answer is the older state) and answered when release() is
 * called.  held() counts them. */
function holder(match) {
	let n = 0, release = null;
	const gate = new Promise((r) => { release = r; });
	const handler = async (route) => {
		n++;
		try {
			const resp = await route.fetch();
			await gate;
			await route.fulfill({ response: resp });
		} catch (_) {
			/* the step failed and let the route go: it reports why */
		}
	};
	return { match, handler, held: () => n, release: () => release() };
}
async function waitHeld(h, n) {
	for (let i = 0; h.held() < n; i++) {
		assert(i < 100, 'held ' + h.held() + ' requests, waited for ' + n);
		await page.waitForTimeout(50);
	}
}

await step('overview: a range answered after a newer one does not draw over it', async () => {
	await page.evaluate(() => { location.hash = '#/overview'; });
	await page.locator('#page-overview').waitFor({ state: 'visible' });
	await page.waitForFunction(() => document.getElementById('ov-tiles').dataset.total !== undefined);
	await settled();
	const h = holder((u) => u.pathname === '/v1/events/stats' && u.searchParams.get('bucket') === '60');
	await page.route(h.match, h.handler);
	try {
		await page.selectOption('#ov-range', '1h');	/* its two stats reads are held */
		await waitHeld(h, 2);
		await page.selectOption('#ov-range', '7d');
		await page.locator('#ov-tiles', { hasText: 'last 7 days' }).waitFor();
		h.release();
		await settled();
		const t = await page.locator('#ov-tiles').innerText();
		assert(/last 7 days/.test(t) && !/last hour/.test(t), 'the tiles say: ' + t.replace(/\s+/g, ' '));
		for (const box of ['#ov-service', '#ov-outcome']) {
			const keys = await page.locator(box + ' .legend .count').evaluateAll((l) => l.map((e) => e.dataset.key));
			assert(new Set(keys).size === keys.length, box + ' legend: ' + keys.join(', '));
			const n = await page.locator(box + ' figure').count();
			assert(n <= 1, box + ': ' + n + ' charts');
		}
	} finally {
		h.release();
		await settled().catch(() => {});
		await page.unroute(h.match, h.handler);
		await page.selectOption('#ov-range', '24h');
		await settled();
	}
}, adminPage);

await step('search: two reads of the saved searches at once list each once', async () => {
	/* a search with a filter: a saved search needs one */
	await page.evaluate((a) => { location.hash = '#/search?range=24h&actor=' + encodeURIComponent(a); }, who);
	await page.locator('#page-search').waitFor({ state: 'visible' });
	await settled();
	await page.locator('#saved summary').click();
	const h = holder((u) => u.pathname === '/v1/searches');
	const names = ['first ' + tag, 'second ' + tag];
	try {
		await page.route(h.match, (route) => (route.request().method() === 'GET' && h.held() === 0 ?
			h.handler(route) : route.continue()));
		await page.fill('#save-name', names[0]);
		await page.click('#save-form button[type=submit]');	/* its list read is held */
		await waitHeld(h, 1);
		await page.fill('#save-name', names[1]);
		await page.click('#save-form button[type=submit]');
		await page.locator('#saved-list a', { hasText: names[1] }).waitFor().catch(async (e) => {
			throw new Error(e.message.split('\n')[0] + '; the list: ' +
				(await page.locator('#saved-list').innerText()).replace(/\s+/g, ' ') +
				'; the form says: ' + await page.locator('#save-err').innerText());
		});
		h.release();
		await settled();
		const r = await api('GET', '/v1/searches', ADMIN);
		const list = r.json.searches || [];
		for (const nm of names) {
			assert(list.some((x) => x.name === nm), nm + ' was not saved');
			const n = await page.locator('#saved-list a', { hasText: nm }).count();
			assert(n === 1, nm + ' listed ' + n + ' times');
		}
		const n = await page.locator('#saved-list li').count();
		assert(n === list.length, n + ' saved searches listed, the server has ' + list.length);
		for (const x of list.filter((y) => names.includes(y.name)))
			await api('DELETE', '/v1/searches/' + encodeURIComponent(x.id), ADMIN);
	} finally {
		h.release();
		await settled().catch(() => {});
		await page.unroute(h.match);
	}
}, adminPage);

// ------------------------------------------------------------ auditor
await step('signing out ends the session', async () => {
	await page.goto(BASE + '/', { waitUntil: 'load' });
	/* a reload keeps the session (app.js): sign out of it first */
	if (await page.locator('#logout').isVisible()) {
		await page.click('#logout');
		await page.locator('#login-token').waitFor({ state: 'visible' });
	}
	await page.fill('#login-token', ADMIN);
	await page.click('#login-form button[type=submit]');
	await page.locator('#logout').waitFor({ state: 'visible' });
	await page.click('#logout');
	await page.locator('#login-token').waitFor({ state: 'visible' });
	for (let i = 0; i < 20; i++) {
		const s = await page.evaluate(async () => (await fetch('/v1/session')).status);
		if (s === 401)
			return;
		await page.waitForTimeout(100);
	}
	throw new Error('GET /v1/session still answers after sign-out');
}, signedIn);

await step('an auditor sees no admin screens', async () => {
	await page.fill('#login-token', AUDITOR);
	await page.click('#login-form button[type=submit]');
	await page.locator('#nav').waitFor({ state: 'visible' });
	assert(!await page.locator('#nav-admin').isVisible(), 'the Admin link is visible');
	/* app.js sends a token to the pages its role may use: #/admin opens the overview */
	await page.goto(BASE + '/#/admin');
	await page.locator('#page-overview').waitFor({ state: 'visible' });
	assert(!await page.locator('#admin-body').isVisible(), 'the admin screens are visible');
	assert(await page.locator('#admin-rules tr').count() === 0, 'rules were listed');
	await shot(page, 'admin-auditor');
});

await step('no script errors in the page', async () => {
	assert(problems.length === 0, problems.join('\n'));
});

clearTimeout(watchdog);
await context.close();
process.exit(failures ? 1 : 0);
