/*
 * overview.js - the dashboard's home page (registered with app.js's
 * LS.addPage): for a range (last hour, 24 hours, 7 days),
 *  - tiles: events in the range, denied events, open alerts, entries in the log;
 *  - events over time by service and by outcome, stacked bars drawn with
 *    uPlot (vendored from npm by the build, /uplot.min.js; its license is
 *    served at /uplot-LICENSE.txt), from GET /v1/events/stats with
 *    group_by=service and group_by=outcome; with "hide logseal's own
 *    events" (the default) every query of the page says service!=logseal
 *    (its reads, sign-ins and denials; docs/API.md "Not equal");
 *  - the most denied actors, actions and sources (GET /v1/stats/denied),
 *    each a link to the search that lists those events;
 *  - open alerts (GET /v1/alerts: fired and not resolved);
 *  - integrity: the latest checkpoint and its age, witness cosignatures,
 *    the last full verify with a warning when it is stale (it covered
 *    fewer entries than the latest checkpoint by more than 10% and 50
 *    entries, or is over a week old) or
 *    failed, and for admins a button that starts one (POST /v1/verify),
 *    whose state is then polled (GET /v1/verify).
 * Each card shows its own error or empty state; one failing read does not
 * blank the others.  Only the latest load draws: one whose answers come
 * after a newer load started (a range changed twice quickly, a hash change
 * and a submit) draws nothing, so an older range never shows over a newer
 * one and no chart is left behind out of the page.
 */
'use strict';

(function () {
	const LS = window.LS;
	const { $, el, clear, str, describe, getJSON, ago, utc } = LS;

	const RANGES = {
		'1h': { secs: 3600, bucket: 60, label: 'last hour', step: 'minute' },
		'24h': { secs: 86400, bucket: 1800, label: 'last 24 hours', step: '30 minutes' },
		'7d': { secs: 604800, bucket: 14400, label: 'last 7 days', step: '4 hours' },
	};
	const OUTCOMES = ['success', 'failure', 'denied', 'error', 'unknown'];
	const OWN = 'logseal';
	/* Colour-blind-safe palette (Okabe-Ito) for services. */
	const PALETTE = ['#0072b2', '#e69f00', '#009e73', '#cc79a7', '#56b4e9', '#d55e00', '#8a7a00', '#444444'];
	let plots = [];
	let loads = 0, integrityLoads = 0;	/* the latest load() and loadIntegrity() */

	function cssVar(name, fallback) {
		const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
		return v || fallback;
	}

	function errorBox(box, what, e) {
		clear(box).append(el('p', { class: 'error', text: what + ': ' + describe(e) }));
	}

	/* ---------------------------------------------------- time series */

	/* {key: counts[n]} from a stats reply; buckets the server left out are 0. */
	function seriesOf(j, start, bucket, n) {
		const out = {};
		for (const b of (j && j.buckets) || []) {
			const i = Math.floor((Date.parse(b.start) / 1000 - start) / bucket);
			if (!(i >= 0 && i < n))
				continue;
			for (const [k, c] of Object.entries(b.counts || {}))
				(out[k] = out[k] || new Array(n).fill(0))[i] += c;
			if (b.other)
				(out.other = out.other || new Array(n).fill(0))[i] += b.other;
		}
		return out;
	}

	const sum = (a) => a.reduce((x, y) => x + y, 0);

	/* A stacked bar chart of series (keys in order, colours) in box, with a
	 * legend of totals that is also the text alternative. */
	function stacked(box, title, xs, series, keys, colors, bucket) {
		clear(box);
		const totals = keys.map((k) => sum(series[k]));
		const all = sum(totals);
		if (!all) {
			box.append(el('p', { class: 'empty', text: 'No events in this range. Writers send events with POST /v1/events; widen the range to see older ones.' }));
			return;
		}
		const fig = el('figure', { class: 'plot', role: 'img',
			'aria-label': title + ': ' + keys.map((k, i) => k + ' ' + totals[i]).join(', ') + '; ' + all + ' in all' });
		box.append(fig);
		if (window.uPlot) {
			const n = xs.length;
			const cum = [];
			let acc = new Array(n).fill(0);
			for (const k of keys) {
				acc = acc.map((v, i) => v + series[k][i]);
				cum.push(acc);
			}
			/* Drawn from the tallest stack down, so each series shows as its
			 * own band on top of the ones before it. */
			const order = keys.map((_, i) => i).reverse();
			const bars = window.uPlot.paths.bars({ size: [0.85, 60], align: 1 });
			const opts = {
				width: Math.max(box.clientWidth - 8, 260),
				height: 220,
				legend: { show: false },
				cursor: { drag: { x: false, y: false } },
				tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
				scales: { x: { time: true, range: [xs[0], xs[n - 1] + bucket] } },
				axes: [{ stroke: '#445' }, { stroke: '#445', size: 50 }],
				series: [{}].concat(order.map((i) => ({
					label: keys[i], stroke: colors[i], fill: colors[i], width: 0,
					paths: bars, points: { show: false },
				}))),
			};
			const data = [xs].concat(order.map((i) => cum[i]));
			const plot = new window.uPlot(opts, data, fig);
			plot.root.setAttribute('aria-hidden', 'true');
			plots.push({ plot, box });
		}
		box.append(el('ul', { class: 'legend' }, keys.map((k, i) =>
			el('li', {}, el('span', { class: 'swatch', 'data-color': colors[i] }), k + ': ',
				el('strong', { class: 'count', 'data-key': k }, String(totals[i]))))));
		/* the swatches' colours: set through the CSSOM (the CSP forbids style attributes) */
		for (const s of box.querySelectorAll('.swatch[data-color]'))
			s.style.background = s.dataset.color;
		box.append(el('p', { class: 'muted small' }, all + ' events, one bar per ' + RANGES[cur.range].step + ' (UTC).'));
	}

	/* ---------------------------------------------------- cards */

	function tile(label, value, cls, href) {
		const v = el('span', { class: 'tile-v' + (cls ? ' ' + cls : '') }, String(value));
		return el('div', { class: 'tile' }, href ? el('a', { href }, v) : v, el('span', { class: 'tile-l' }, label));
	}

	function deniedList(box, list, field, range) {
		clear(box);
		if (!list || !list.length) {
			box.append(el('p', { class: 'empty', text: 'No denied events in this range.' }));
			return;
		}
		box.append(el('ol', { class: 'toplist' }, list.map((x) => {
			const q = new URLSearchParams({ range, outcome: 'denied', own: 'show' });
			q.set(field, x.value);
			return el('li', {}, el('a', { href: '#/search?' + q.toString(), 'data-value': x.value },
				x.value), ' ', el('span', { class: 'count', text: String(x.count) }));
		})));
	}

	const isOpen = (a) => !(a.resolved || a.status === 'resolved' || a.state === 'resolved');

	function alertsCard(box, list) {
		clear(box);
		const open = list.filter(isOpen);
		if (!open.length) {
			box.append(el('p', { class: 'empty', text: 'No open alerts. Alerts appear here when a rule fires (see Alerts).' }));
			return open;
		}
		box.append(el('ul', { class: 'alertlist' }, open.slice(0, 6).map((a) => {
			const rule = a.rule && typeof a.rule === 'object' ? a.rule : { name: str(a.rule) };
			return el('li', {}, el('span', { class: 'badge sev-' + str(rule.severity) }, str(rule.severity) || 'alert'), ' ',
				el('strong', {}, str(rule.name || rule.id)), ' ', str(a.group), ' ',
				el('span', { class: 'muted' }, utc(a.time) + (a.status === 'acknowledged' ? ', acknowledged' : '')));
		})), el('p', {}, el('a', { href: '#/alerts' }, open.length > 6 ? 'All ' + open.length + ' open alerts' : 'Alerts')));
		return open;
	}

	function integrityCard(box, j, v) {
		clear(box);
		const dl = el('dl', { class: 'kv' });
		const add = (k, ...vals) => dl.append(el('dt', { text: k }), el('dd', {}, ...vals));
		const cpSize = typeof j.checkpoint_tree_size === 'number' ? j.checkpoint_tree_size : null;
		add('latest checkpoint', cpSize === null ? LS.na('none published yet') :
			el('span', { id: 'ov-cp' }, 'size ' + cpSize + (typeof j.checkpoint_age_seconds === 'number' ?
				', ' + ago(j.checkpoint_age_seconds * 1000) + ' ago' : '')));
		add('entries in the log', String(j.tree_size));
		const wj = j.witnesses;
		if (wj && typeof wj === 'object') {
			const ws = Array.isArray(wj.witnesses) ? wj.witnesses : [];
			add('witness cosignatures', el('span', { class: 'badge ' + (wj.quorum_met ? 'success' : 'failure') },
				wj.quorum_met ? 'quorum met' : 'quorum NOT met'),
			' ' + ws.filter((w) => w.cosigned_size !== null).length + ' of ' + ws.length +
				' witnesses cosigned, up to size ' + str(wj.quorum_size));
		} else {
			add('witness cosignatures', LS.na('no witnesses configured'));
		}
		const lv = j.last_verify;
		const warn = el('div', { id: 'ov-verify-state' });
		if (lv && typeof lv === 'object') {
			const t = Date.parse(lv.time);
			const age = isNaN(t) ? null : Date.now() - t;
			add('last full verify', el('span', { id: 'ov-last-verify' },
				el('span', { class: 'badge ' + (lv.ok ? 'success' : 'failure') }, lv.ok ? 'passed' : 'FAILED'),
				' ' + (age === null ? utc(lv.time) : ago(age) + ' ago') + ', covered ' + str(lv.tree_size) + ' entries'));
			const gap = cpSize !== null && typeof lv.tree_size === 'number' ? cpSize - lv.tree_size : 0;
			const stale = LS.verifyStale(lv, cpSize);
			if (!lv.ok)
				warn.append(el('p', { class: 'warn', role: 'alert' }, 'The last verify FAILED: ' +
					str(lv.error && (lv.error.message || lv.error.code)) + '. Investigate before trusting the log.'));
			else if (stale)
				warn.append(el('p', { class: 'warn' }, stale));
			else if (gap > 0)
				warn.append(el('p', { class: 'muted small', text: gap + ' newer entries are not covered by it yet.' }));
		} else {
			add('last full verify', LS.na(j.last_verify_error || 'never: run one to check every entry, tile and checkpoint'));
			warn.append(el('p', { class: 'warn' }, 'No full verify is on record.'));
		}
		box.append(dl, warn);
		if (v && v.running)
			warn.append(el('p', { class: 'muted', text: 'A verify is running (started ' + utc(v.started) + ')...' }));
		if (v && v.last && !v.last.ok && v.last.record_error)
			warn.append(el('p', { class: 'error', text: 'The last verify could not be recorded: ' + v.last.record_error }));
		if (LS.hasRole('admin')) {
			const b = el('button', { type: 'button', id: 'ov-verify', class: 'secondary', disabled: v && v.running ? true : null },
				v && v.running ? 'Verify running...' : 'Start a full verify');
			b.addEventListener('click', () => LS.startVerify(b, warn, verified));
			box.append(b);
		}
		box.append(el('p', {}, el('a', { href: '#/integrity' }, 'Integrity details and the checkpoint signature check')));
	}

	/* After a verify: the card again, if the overview is still shown. */
	function verified() {
		if (LS.parseHash().name === 'overview' || location.hash === '')
			loadIntegrity();
	}

	async function loadIntegrity() {
		const box = $('ov-integrity'), mine = ++integrityLoads;
		try {
			const [j, v] = await Promise.all([getJSON('/v1/integrity'),
				LS.hasRole('admin') ? getJSON('/v1/verify').catch(() => null) : null]);
			if (mine !== integrityLoads)
				return;
			integrityCard(box, j, v);
			if (v && v.running)
				LS.waitVerify(verified);
		} catch (e) {
			if (mine === integrityLoads)
				errorBox(box, 'Integrity', e);
		}
	}

	/* ---------------------------------------------------- the page */

	const cur = { range: '24h' };

	async function load() {
		const mine = ++loads;
		cur.range = $('ov-range').value in RANGES ? $('ov-range').value : '24h';
		const R = RANGES[cur.range];
		const hide = $('ov-hide-own').checked;
		const end = Math.ceil(Date.now() / 1000 / R.bucket) * R.bucket;
		const start = end - R.secs;
		const n = R.secs / R.bucket;
		const xs = Array.from({ length: n }, (_, i) => start + i * R.bucket);
		/* Up to now: the reads this page makes are events too (logseal's
		 * own), and they must not change the counts while they are taken. */
		const range = { from: new Date(start * 1000).toISOString(),
			to: new Date(Math.min(end * 1000, Date.now())).toISOString() };
		const q = (extra) => new URLSearchParams(Object.assign({}, range, extra)).toString();
		for (const p of plots)
			p.plot.destroy();
		plots = [];
		for (const id of ['ov-service', 'ov-outcome', 'ov-denied-actors', 'ov-denied-actions',
			'ov-denied-sources', 'ov-alerts', 'ov-integrity', 'ov-tiles'])
			clear($(id)).append(el('p', { class: 'muted', text: 'loading...' }));
		const bucket = String(R.bucket);
		if (hide)
			range['service!'] = OWN;
		const [bySvc, byOut, denied, alerts] = await Promise.allSettled([
			getJSON('/v1/events/stats?' + q({ group_by: 'service', bucket })),
			getJSON('/v1/events/stats?' + q({ group_by: 'outcome', bucket })),
			getJSON('/v1/stats/denied?' + q({ top: '5' })),
			getJSON('/v1/alerts?limit=100'),
		]);
		if (mine !== loads)
			return;
		loadIntegrity();
		/* by service */
		let total = null, deniedN = null;
		if (bySvc.status === 'fulfilled') {
			const s = seriesOf(bySvc.value, start, R.bucket, n);
			const keys = Object.keys(s).sort((a, b) => sum(s[b]) - sum(s[a]));
			const top = keys.slice(0, PALETTE.length - 1);
			if (keys.length > top.length) {
				const rest = new Array(n).fill(0);
				for (const k of keys.slice(top.length))
					s[k].forEach((c, i) => { rest[i] += c; });
				s['(other services)'] = rest;
				top.push('(other services)');
			}
			stacked($('ov-service'), 'Events over time by service', xs, s, top, top.map((_, i) => PALETTE[i]), R.bucket);
		} else {
			errorBox($('ov-service'), 'Events by service', bySvc.reason);
		}
		/* by outcome */
		if (byOut.status === 'fulfilled') {
			const s = seriesOf(byOut.value, start, R.bucket, n);
			const keys = OUTCOMES.concat(['other']).filter((k) => s[k] && sum(s[k]) > 0)
				.concat(Object.keys(s).filter((k) => !OUTCOMES.includes(k) && k !== 'other' && sum(s[k]) > 0));
			const colors = keys.map((k) => cssVar('--' + k, '#888'));
			stacked($('ov-outcome'), 'Events over time by outcome', xs, s, keys, colors, R.bucket);
			total = keys.reduce((a, k) => a + sum(s[k]), 0);
			deniedN = s.denied ? sum(s.denied) : 0;
		} else {
			errorBox($('ov-outcome'), 'Events by outcome', byOut.reason);
		}
		/* top denied */
		if (denied.status === 'fulfilled') {
			const d = denied.value;
			deniedList($('ov-denied-actors'), d.actors, 'actor', cur.range);
			deniedList($('ov-denied-actions'), d.actions, 'action', cur.range);
			deniedList($('ov-denied-sources'), d.sources, 'source_ip', cur.range);
		} else {
			for (const id of ['ov-denied-actors', 'ov-denied-actions', 'ov-denied-sources'])
				errorBox($(id), 'Denied', denied.reason);
		}
		let open = null;
		if (alerts.status === 'fulfilled')
			open = alertsCard($('ov-alerts'), LS.listFrom(alerts.value, 'alerts'));
		else
			errorBox($('ov-alerts'), 'Alerts', alerts.reason);
		const tiles = clear($('ov-tiles'));
		const sq = new URLSearchParams({ range: cur.range });
		if (!hide)
			sq.set('own', 'show');
		const dq = new URLSearchParams(sq);
		dq.set('outcome', 'denied');
		tiles.append(
			tile('events, ' + R.label + (hide ? ' (logseal\'s own hidden)' : ''), total === null ? '?' : total, null, '#/search?' + sq),
			tile('denied', deniedN === null ? '?' : deniedN, deniedN ? 'bad' : null, '#/search?' + dq),
			tile('open alerts', open === null ? '?' : open.length, open && open.length ? 'bad' : null, '#/alerts'));
		const t = $('ov-tiles');
		t.setAttribute('data-total', String(total));
		t.setAttribute('data-denied', String(deniedN));
	}

	LS.addPage('overview', {
		role: 'auditor',
		load,
	});
	LS.onReady(() => {
		$('ov-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			load();
		});
		$('ov-range').addEventListener('change', load);
		$('ov-hide-own').addEventListener('change', load);
		let pending = null;
		window.addEventListener('resize', () => {
			clearTimeout(pending);
			pending = setTimeout(() => {
				for (const p of plots)
					p.plot.setSize({ width: Math.max(p.box.clientWidth - 8, 260), height: 220 });
			}, 150);
		});
	});
})();
