/*
 * search.js - the Search page of the dashboard (registered with app.js's
 * LS.addPage): filters sent to GET /v1/events, exclusions ("is not") sent
 * as FIELD!=VALUE (docs/API.md), logseal's own events hidden by default
 * (service!=logseal; how many in the range is counted with
 * GET /v1/events/stats), any value in the results a button that
 * filters by it (and a "≠" button beside it that excludes it), relative
 * ranges (last 15 min .. 7 days: from=15m etc., relative to the server's
 * clock, so the next page's cursor moves with it) and
 * absolute ones read in UTC or local time as the switch says (the table's
 * time column follows it), downloads in CSV, ECS, OCSF and the evidence
 * bundle (GET /v1/export), and deep links.
 *
 * Deep links: the page's state is the URL fragment
 * "#/search?range=24h&actor=alice&not.service=billing&own=show&tz=local";
 * a search sets it (so Back goes to the previous search) and opening such
 * an address runs it.  It holds filters only, never a token (app.js
 * invariant 1).  The downloads take the same filters and exclusions.
 * Saved searches (GET/POST/DELETE /v1/searches, kept in the log's own
 * configuration) are deep links with a name: their "query" is the
 * fragment's query text.
 * Source addresses cannot be excluded (the index keeps them as keyed
 * hashes of CIDR prefixes, no "not equal"): they get no exclude button.
 * Only the latest search, and the latest read of the saved searches, draw:
 * an answer that comes after a newer one was asked for (two submits, a
 * page and a new search, a save and a delete) is dropped, so an older
 * search never shows (or sets the cursors) over a newer one and no saved
 * search is listed twice.
 */
'use strict';

(function () {
	const LS = window.LS;
	const { $, el, clear, str, describe, getJSON, request, say } = LS;

	const FILTERS = ['actor', 'action', 'outcome', 'source_ip', 'service', 'resource_type',
		'resource_id', 'writer'];
	const RANGES = { '15m': 900, '1h': 3600, '24h': 86400, '7d': 604800 };
	const LABEL = { actor: 'actor', action: 'action', outcome: 'outcome', source_ip: 'source',
		service: 'service', resource_type: 'resource type', resource_id: 'resource id', writer: 'writer' };
	const OWN = 'logseal';

	const st = {
		excluded: [],	/* [{field, value}] */
		cursors: [], cursor: null, next: null,
		last: null,	/* the last page's events, re-drawn when the time zone changes */
		ran: false,
		state: null,	/* the deep link's query of the search shown */
		searches: 0,	/* the latest runSearch() */
		savedReads: 0,	/* the latest loadSaved() */
	};

	/* The value of field in an event, as the row shows it. */
	function valueOf(e, field) {
		const a = e.actor || {}, s = e.source || {}, r = e.resource || {};
		switch (field) {
		case 'actor': return a.id;
		case 'action': return e.action;
		case 'outcome': return e.outcome;
		case 'source_ip': return s.ip;
		case 'service': return e.service;
		case 'resource_type': return r.type;
		case 'resource_id': return r.id;
		}
		return undefined;
	}

	const tz = () => ($('q-tz-local').checked ? 'local' : 'utc');

	/* ---------------------------------------------------- times */

	const pad = (n, w) => String(n).padStart(w || 2, '0');

	/* An event time as the table shows it, in the chosen zone. */
	function showTime(t) {
		if (!t)
			return '';
		if (tz() === 'utc')
			return str(t).replace('T', ' ').replace(/\.\d+Z$/, 'Z');
		const d = new Date(t);
		if (isNaN(d))
			return str(t);
		const off = -d.getTimezoneOffset();
		return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
			pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + ' ' +
			(off < 0 ? '-' : '+') + pad(Math.floor(Math.abs(off) / 60)) + ':' + pad(Math.abs(off) % 60);
	}

	/* A datetime-local value read in the chosen zone; null when empty. */
	function readInput(id, zone) {
		const v = $(id).value.trim();
		if (!v)
			return null;
		const d = new Date(zone === 'utc' ? v + (v.length === 16 ? ':00Z' : 'Z') : v);
		if (isNaN(d))
			throw new Error('not a date and time: ' + v);
		return d;
	}

	function writeInput(id, d, zone) {
		if (!d) {
			$(id).value = '';
			return;
		}
		$(id).value = zone === 'utc' ? d.toISOString().slice(0, 19) :
			d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' +
			pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
	}

	function zoneChanged() {
		/* The inputs keep the same instants, written in the other zone. */
		const now = tz(), was = now === 'utc' ? 'local' : 'utc';
		for (const id of ['q-from', 'q-to']) {
			let d = null;
			try {
				d = readInput(id, was);
			} catch (_) { /* left as typed */ continue; }
			writeInput(id, d, now);
		}
		labels();
		if (st.last)
			draw(st.last);
	}

	function labels() {
		const z = tz() === 'utc' ? 'UTC' : 'local time';
		$('q-from-l').textContent = 'From (' + z + ')';
		$('q-to-l').textContent = 'To, exclusive (' + z + ')';
		$('search-time-h').textContent = 'Time (' + z + ')';
	}

	function rangeChanged() {
		for (const d of document.querySelectorAll('#search-form .abs'))
			d.hidden = $('q-range').value !== 'abs';
	}

	/* ---------------------------------------------------- state <-> form, URL */

	/* The page's state as URL parameters (the deep link). */
	function stateParams() {
		const p = new URLSearchParams();
		const range = $('q-range').value;
		if (range)
			p.set('range', range);
		if (range === 'abs') {
			const f = readInput('q-from', tz()), t = readInput('q-to', tz());
			if (f)
				p.set('from', f.toISOString());
			if (t)
				p.set('to', t.toISOString());
		}
		for (const name of FILTERS) {
			const v = $('q-' + name).value.trim();
			if (v)
				p.set(name, v);
		}
		for (const x of st.excluded)
			p.append('not.' + x.field, x.value);
		if (!$('q-hide-own').checked)
			p.set('own', 'show');
		if (tz() === 'local')
			p.set('tz', 'local');
		if ($('q-order').value !== 'desc')
			p.set('order', $('q-order').value);
		if ($('q-limit').value.trim() && $('q-limit').value.trim() !== '50')
			p.set('limit', $('q-limit').value.trim());
		return p;
	}

	function fillForm(q) {
		$('q-tz-local').checked = q.get('tz') === 'local';
		$('q-tz-utc').checked = q.get('tz') !== 'local';
		const range = q.get('range') || (q.get('from') || q.get('to') ? 'abs' : '');
		$('q-range').value = range in RANGES || range === 'abs' ? range : '';
		for (const [id, k] of [['q-from', 'from'], ['q-to', 'to']]) {
			const d = q.get(k) ? new Date(q.get(k)) : null;
			writeInput(id, d && !isNaN(d) ? d : null, tz());
		}
		for (const name of FILTERS)
			$('q-' + name).value = q.get(name) || '';
		st.excluded = [];
		for (const [k, v] of q)
			if (k.startsWith('not.') && FILTERS.includes(k.slice(4)))
				st.excluded.push({ field: k.slice(4), value: v });
		$('q-hide-own').checked = q.get('own') !== 'show';
		$('q-order').value = q.get('order') === 'asc' ? 'asc' : 'desc';
		$('q-limit').value = q.get('limit') || '50';
		rangeChanged();
		labels();
		chips();
	}

	/* What the server is asked: the filters, the range resolved now. */
	function serverParams(withPaging) {
		const p = new URLSearchParams();
		const range = $('q-range').value;
		if (range in RANGES) {
			p.set('from', range);	/* relative to the server's clock */
		} else if (range === 'abs') {
			const f = readInput('q-from', tz()), t = readInput('q-to', tz());
			if (f)
				p.set('from', f.toISOString());
			if (t)
				p.set('to', t.toISOString());
		}
		for (const name of FILTERS) {
			const v = $('q-' + name).value.trim();
			if (v)
				p.set(name, v);
		}
		for (const x of st.excluded)
			p.append(x.field + '!', x.value);
		if (hidingOwn())
			p.append('service!', OWN);
		if (withPaging) {
			p.set('order', $('q-order').value);
			const lim = $('q-limit').value.trim();
			if (lim)
				p.set('limit', lim);
		}
		return p;
	}

	const hidingOwn = () => $('q-hide-own').checked && $('q-service').value.trim() !== OWN &&
		!st.excluded.some((x) => x.field === 'service' && x.value === OWN);

	/* ---------------------------------------------------- results */

	function chips() {
		const box = clear($('search-chips'));
		for (const x of st.excluded)
			box.append(el('span', { class: 'chip' }, LABEL[x.field] + ' \u2260 ' + x.value,
				el('button', { type: 'button', class: 'link', 'aria-label': 'stop excluding ' + LABEL[x.field] + ' ' + x.value,
					onclick: () => {
						st.excluded = st.excluded.filter((y) => y !== x);
						submit();
					} }, '\u00d7')));
	}

	function filterBy(field, value) {
		$('q-' + field).value = value;
		st.excluded = st.excluded.filter((x) => x.field !== field);
		if (field === 'service' && value === OWN)
			$('q-hide-own').checked = false;
		submit();
	}

	function exclude(field, value) {
		if (!st.excluded.some((x) => x.field === field && x.value === value))
			st.excluded.push({ field, value });
		if ($('q-' + field).value === value)
			$('q-' + field).value = '';
		submit();
	}

	/* A value in a result row: a button that filters by it, and one that
	 * excludes it. */
	function cell(field, value, shown, cls, noExclude) {
		if (value === undefined || value === null || value === '')
			return el('td', {}, shown || '');
		const v = String(value);
		const label = LABEL[field] + ' ' + v;
		return el('td', { class: cls || null },
			el('button', { type: 'button', class: 'val' + (field === 'outcome' ? ' badge ' + v : ''),
				title: 'filter by ' + label, 'aria-label': 'filter by ' + label,
				'data-field': field, onclick: () => filterBy(field, v) }, shown || v),
			noExclude ? null : el('button', { type: 'button', class: 'neg', title: 'exclude ' + label,
				'aria-label': 'exclude ' + label, onclick: () => exclude(field, v) }, '\u2260'));
	}

	function row(index, e) {
		e = e || {};
		const a = e.actor || {}, s = e.source || {}, r = e.resource || {};
		return el('tr', { 'data-index': index },
			el('td', { class: 'num' }, el('a', { href: '#/event/' + index, 'aria-label': 'event ' + index }, String(index))),
			el('td', { class: 'time' }, showTime(e.time)),
			cell('actor', a.id, str(a.id) + (a.type ? ' (' + a.type + ')' : '')),
			cell('action', e.action),
			cell('outcome', e.outcome),
			s.ip ? cell('source_ip', s.ip, null, null, true) : el('td', {}, str(s.endpoint)),
			cell('service', e.service),
			el('td', {}, [r.type, r.id].filter(Boolean).join(' ')));
	}

	function draw(page) {
		const rows = clear($('search-rows'));
		for (const it of page.events)
			rows.append(row(it.index, it.entry));
		if (!page.events.length)
			rows.append(el('tr', {}, el('td', { colspan: 8, class: 'empty', text:
				'No events match. Widen the time range, remove a filter or an exclusion' +
				(page.own ? ', or show logseal\'s own events.' : '.') })));
		const parts = [page.events.length + ' events on page ' + (st.cursors.length + 1) +
			(st.next ? ' (more on the next page)' : '')];
		if (page.own !== null)
			parts.push(page.own + ' of logseal\'s own events hidden in this range');
		const sum = $('search-summary');
		sum.className = 'summary';
		sum.textContent = parts.join('; ') + '; the index covers ' +
			(page.watermark !== undefined ? page.watermark : '?') + ' entries.';
	}

	/* How many of logseal's own events the same search hides: the same
	 * filters and exclusions with service=logseal (null when none are
	 * hidden or the count failed; the search itself still shows). */
	async function ownCount() {
		if (!hidingOwn())
			return null;
		const p = serverParams(false);
		p.delete('service!');
		for (const x of st.excluded)
			if (x.field === 'service')
				p.append('service!', x.value);
		p.set('service', OWN);
		try {
			const j = await getJSON('/v1/events/stats?' + p.toString());
			return typeof j.total === 'number' ? j.total : null;
		} catch (_) {
			return null;
		}
	}

	async function runSearch() {
		let p;
		try {
			p = serverParams(true);
		} catch (e) {
			fail(describe(e));
			return;
		}
		if (st.cursor)
			p.set('cursor', st.cursor);
		const mine = ++st.searches;
		const sum = $('search-summary');
		sum.className = 'summary';
		sum.textContent = 'Searching...';
		try {
			const [j, own] = await Promise.all([getJSON('/v1/events?' + p.toString()),
				st.cursor ? Promise.resolve(st.last ? st.last.own : null) : ownCount()]);
			if (mine !== st.searches)
				return;
			st.next = j.next_cursor || null;
			st.last = { events: j.events || [], watermark: j.watermark, own };
			draw(st.last);
		} catch (e) {
			if (mine !== st.searches)
				return;
			st.next = null;
			st.last = null;
			clear($('search-rows'));
			fail('Search failed: ' + describe(e));
		}
		$('search-next').disabled = !st.next;
		$('search-prev').disabled = st.cursors.length === 0;
		$('search-first').disabled = st.cursors.length === 0;
	}

	function fail(text) {
		const sum = $('search-summary');
		sum.className = 'summary error';
		sum.textContent = text;
	}

	/* A new search: its state goes into the address (the deep link, a new
	 * history entry so Back returns to the previous search), and it runs. */
	function submit(ev) {
		if (ev)
			ev.preventDefault();
		let p;
		try {
			p = stateParams();
		} catch (e) {
			fail(describe(e));
			return;
		}
		chips();
		st.state = p.toString();
		const h = '#/search' + (st.state ? '?' + st.state : '');
		if (location.hash !== h)
			history.pushState(null, '', h);
		fresh();
	}

	function fresh() {
		st.cursors = [];
		st.cursor = null;
		st.ran = true;
		runSearch();
	}

	/* Opening the page: a link with filters (a deep link, Back, the
	 * overview's links) runs its search; the bare page keeps the last one. */
	function load(arg, query) {
		const q = query.toString();
		if (!st.savedLoaded) {
			st.savedLoaded = true;
			loadSaved();
		}
		if (!st.ran || (q && q !== st.state)) {
			fillForm(query);
			st.state = q;
			fresh();
		}
	}

	/* ---------------------------------------------------- saved searches */

	async function loadSaved() {
		const list = $('saved-list'), read = ++st.savedReads;
		let j;
		try {
			j = await getJSON('/v1/searches');
		} catch (e) {
			if (read === st.savedReads)
				list.replaceChildren(el('li', { class: 'error', text: 'Saved searches: ' + describe(e) }));
			return;
		}
		if (read !== st.savedReads)
			return;
		const items = LS.listFrom(j, 'searches');
		clear(list);
		if (!items.length)
			list.append(el('li', { class: 'empty', text: 'None yet: run a search, name it below and save it.' }));
		for (const x of items) {
			const mine = x.owner === LS.session.tokenId;
			list.append(el('li', {}, el('a', { href: '#/search' + (x.query ? '?' + x.query : ''), 'data-id': x.id }, str(x.name)),
				x.shared ? el('span', { class: 'muted' }, ' (shared' + (mine ? '' : ' by ' + str(x.owner)) + ')') : null,
				mine || LS.hasRole('admin') ? el('button', { type: 'button', class: 'link',
					'aria-label': 'delete saved search ' + str(x.name), onclick: () => deleteSaved(x) }, 'delete') : null));
		}
	}

	async function save(ev) {
		ev.preventDefault();
		const err = $('save-err');
		err.textContent = '';
		let q;
		try {
			q = stateParams().toString();
		} catch (e) {
			err.textContent = describe(e);
			return;
		}
		try {
			await LS.sendJSON('POST', '/v1/searches', { name: $('save-name').value.trim(), query: q,
				shared: $('save-shared').checked });
			$('save-name').value = '';
			say('Search saved.');
		} catch (e) {
			err.textContent = 'Could not save: ' + describe(e);
		}
		loadSaved();
	}

	async function deleteSaved(x) {
		try {
			await request('/v1/searches/' + encodeURIComponent(x.id), { method: 'DELETE' });
		} catch (e) {
			$('save-err').textContent = 'Could not delete: ' + describe(e);
		}
		loadSaved();
	}

	async function download(format) {
		let p;
		try {
			p = serverParams(false);
		} catch (e) {
			say(describe(e), true);
			return;
		}
		p.set('format', format);
		say('Preparing the ' + format.toUpperCase() + ' download...');
		try {
			const resp = await request('/v1/export?' + p.toString());
			const blob = await resp.blob();
			const url = URL.createObjectURL(blob);
			const stamp = new Date().toISOString().replace(/[:.]/g, '-');
			const ext = format === 'csv' ? '.csv' : format === 'bundle' ? '.bundle.ndjson' : '.' + format + '.ndjson';
			const a = el('a', { href: url, download: 'logseal-export-' + stamp + ext });
			document.body.append(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(url), 30000);
			say(format.toUpperCase() + ' download ready (' + blob.size + ' bytes).');
		} catch (e) {
			say('Download failed: ' + describe(e), true);
		}
	}

	LS.addPage('search', { role: 'auditor', load });
	LS.onSignOut(() => {
		clear($('search-rows'));
		st.last = null;
		st.ran = false;
		st.excluded = [];
		st.savedLoaded = false;
		$('search-summary').textContent = '';
	});
	LS.onReady(() => {
		$('search-form').addEventListener('submit', submit);
		$('save-form').addEventListener('submit', save);
		$('search-reset').addEventListener('click', () => {
			fillForm(new URLSearchParams());
			submit();
		});
		$('q-range').addEventListener('change', rangeChanged);
		$('q-tz-utc').addEventListener('change', zoneChanged);
		$('q-tz-local').addEventListener('change', zoneChanged);
		$('q-hide-own').addEventListener('change', () => submit());
		$('search-next').addEventListener('click', () => {
			if (!st.next)
				return;
			st.cursors.push(st.cursor);
			st.cursor = st.next;
			runSearch();
		});
		$('search-prev').addEventListener('click', () => {
			if (!st.cursors.length)
				return;
			st.cursor = st.cursors.pop();
			runSearch();
		});
		$('search-first').addEventListener('click', fresh);
		for (const f of ['csv', 'ecs', 'ocsf', 'bundle'])
			$('export-' + f).addEventListener('click', () => download(f));
	});
})();
