// dashboard_render.mjs - the browser half of bench/dashboard.sh: Debian's
// chromium (playwright-core from tests/browser) signs in to the dashboard
// once (a session cookie), then loads the overview RUNS times and prints,
// one "key value" per line:
//   static_bytes     the page's own files (HTML, JS, CSS, uPlot, icon) as served
//   api_bytes        the JSON the overview asked for (its reads)
//   requests         requests of one load
//   fcp_ms           first contentful paint (median)
//   overview_ms      navigation start to the overview drawn: charts, tiles
//                    and top-denied lists filled with the range's numbers (median, max)
//   total_events     the total the overview showed (must be the events posted)
// Environment: LOGSEAL_URL, ADMIN_TOKEN, CHROMIUM, PROFILE, RUNS (default 5).
import { createRequire } from 'node:module';
const require = createRequire(process.env.BROWSER_DIR + '/package.json');
const { chromium } = require('playwright-core');

const BASE = process.env.LOGSEAL_URL, TOKEN = process.env.ADMIN_TOKEN;
const RUNS = Number(process.env.RUNS || 5);
const ctx = await chromium.launchPersistentContext(process.env.PROFILE, {
	executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
	args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
		'--disable-background-networking', '--disable-component-update', '--disable-sync'],
	viewport: { width: 1366, height: 768 }, timeout: 20000,
});
const page = ctx.pages()[0] || await ctx.newPage();
page.setDefaultTimeout(30000);
await page.goto(BASE + '/', { waitUntil: 'load' });
await page.fill('#login-token', TOKEN);
await page.click('#login-form button[type=submit]');
await page.locator('#page-overview').waitFor({ state: 'visible' });

const drawn = () => {
	const t = document.getElementById('ov-tiles');
	return t && t.dataset.total && t.dataset.total !== 'null' &&
		document.querySelector('#ov-service .legend') && document.querySelector('#ov-outcome .legend') &&
		document.querySelector('#ov-denied-actors li, #ov-denied-actors .empty') &&
		document.querySelector('#ov-integrity dl');
};
const times = [], fcps = [];
let weight = null;
for (let i = 0; i < RUNS; i++) {
	await page.goto('about:blank');
	await page.goto(BASE + '/#/overview', { waitUntil: 'commit' });
	await page.waitForFunction(drawn, null, { polling: 'raf', timeout: 30000 });
	const m = await page.evaluate(() => {
		const fcp = performance.getEntriesByName('first-contentful-paint')[0];
		const nav = performance.getEntriesByType('navigation')[0];
		const files = ['/'];
		let apiB = 0, n = 1;
		for (const r of performance.getEntriesByType('resource')) {
			n++;
			const path = new URL(r.name).pathname;
			if (path.startsWith('/v1/'))
				apiB += r.decodedBodySize;
			else
				files.push(path);
		}
		return { t: performance.now(), fcp: fcp ? fcp.startTime : null, files, apiB, n,
			total: document.getElementById('ov-tiles').dataset.total };
	});
	times.push(m.t);
	if (m.fcp !== null)
		fcps.push(m.fcp);
	weight = m;
}
/* The files' bytes as served (revalidated loads report no body). */
weight.stat = 0;
for (const f of new Set(weight.files))
	weight.stat += (await (await fetch(BASE + f)).arrayBuffer()).byteLength;
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : 0; };
console.log('static_bytes ' + weight.stat);
console.log('api_bytes ' + weight.apiB);
console.log('requests ' + weight.n);
console.log('fcp_ms ' + med(fcps).toFixed(0));
console.log('overview_ms ' + med(times).toFixed(0));
console.log('overview_max_ms ' + Math.max(...times).toFixed(0));
console.log('total_events ' + weight.total);
await ctx.close();
