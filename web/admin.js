/*
 * admin.js - the dashboard's admin screens (#/admin): alert rules (create,
 * edit, test, disable, delete), fired alerts (acknowledge, resolve), webhooks
 * (send a test, delivery history), legal holds (place, release) with what
 * each protects, and the retention plan.  app.js routes to it and tells it
 * of sign-in and sign-out (window.logsealAdmin).
 *
 * What must stay true:
 *  1. It authenticates with the session cookie only (POST /v1/session made
 *     it from the token at sign-in; the cookie is HttpOnly, this file never
 *     sees it) and sends the session's CSRF value in X-CSRF-Token on every
 *     state-changing call.  It keeps no token.
 *  2. Only a session whose role is admin sees the screens: the nav link and
 *     the page stay hidden otherwise (the server refuses the calls anyway).
 *  3. Server data goes into the page as text only (textContent), never as
 *     HTML; no inline script or style (the CSP forbids both).
 *  4. A refusal shows the server's message, next to the field it names
 *     (error.field) when it names one, as an error (role="alert"), never
 *     as muted text.
 *  5. Each list is drawn by the latest of its loads only, by replacing the
 *     list's children: two loads that overlap (a hashchange and a refresh,
 *     app.js's route and this file's own hashchange listener, a save and a
 *     refresh) do not both add their rows, and an older answer that comes
 *     last does not draw over a newer one.
 */
'use strict';

(function () {
	const $ = (id) => document.getElementById(id);
	let session = null;	/* GET /v1/session: {role, token_id, csrf, idle_seconds} */
	let editing = null;	/* id of the rule in the form, null: a new one */
	let rules = [];

	function el(tag, attrs, ...kids) {
		const e = document.createElement(tag);
		for (const [k, v] of Object.entries(attrs || {})) {
			if (v === null || v === undefined || v === false)
				continue;
			if (k === 'class')
				e.className = v;
			else if (k === 'text')
				e.textContent = v;
			else if (k.startsWith('on'))
				e.addEventListener(k.slice(2), v);
			else
				e.setAttribute(k, v === true ? '' : String(v));
		}
		for (const kid of kids.flat()) {
			if (kid !== null && kid !== undefined)
				e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
		}
		return e;
	}

	function clear(n) {
		while (n.firstChild)
			n.removeChild(n.firstChild);
		return n;
	}

	/* Invariant 5: a load of a list starts with latest(list) and draws only
	 * while the check it returns is true, i.e. no later load of the same
	 * list has started since. */
	const loads = {};
	function latest(list) {
		const g = (loads[list] || 0) + 1;
		loads[list] = g;
		return () => loads[list] === g;
	}

	class ApiError extends Error {
		constructor(status, code, message, field) {
			super(message);
			this.status = status;
			this.code = code;
			this.field = field;
		}
	}

	/* Invariant 1: the cookie, and the CSRF value on anything but a read. */
	async function api(method, path, body) {
		const headers = new Headers();
		if (method !== 'GET' && session)
			headers.set('X-CSRF-Token', session.csrf);
		if (body !== undefined)
			headers.set('Content-Type', 'application/json');
		const resp = await fetch(path, {
			method, headers, cache: 'no-store', credentials: 'same-origin',
			redirect: 'error', referrerPolicy: 'no-referrer',
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		let j = null;
		try { j = await resp.json(); } catch (_) { /* not JSON */ }
		if (!resp.ok) {
			const e = (j && j.error) || {};
			if (resp.status === 401)
				signedOutHere('The session has ended; sign in again.');
			throw new ApiError(resp.status, e.code || 'http_' + resp.status,
				e.message || resp.statusText, e.field);
		}
		return j;
	}

	function errText(e) {
		return e instanceof ApiError ? e.message + ' (' + e.status + ' ' + e.code + ')' :
			String(e && e.message ? e.message : e);
	}

	/* A message in a region: ok, or an error (invariant 4). */
	function note(region, text, isError) {
		const r = clear($(region));
		if (text)
			r.append(el('p', { class: isError ? 'error' : 'ok', role: isError ? 'alert' : null,
				text }));
	}

	function table(caption, heads, rows, empty) {
		if (!rows.length)
			return el('p', { class: 'empty', text: empty });
		return el('table', { class: 'small' }, el('caption', { class: 'sr', text: caption }),
			el('thead', null, el('tr', null, heads.map((h) => el('th', { scope: 'col', text: h })))),
			el('tbody', null, rows));
	}

	/* ========================================================= session */

	async function loadSession() {
		try {
			const r = await fetch('/v1/session', { credentials: 'same-origin', cache: 'no-store' });
			session = r.ok ? await r.json() : null;
		} catch (_) {
			session = null;
		}
		reflect();
		return session;
	}

	function isAdmin() {
		return !!session && session.role === 'admin';
	}

	/* Invariant 2: the link and the page only for an admin session. */
	function reflect() {
		const link = $('nav-admin');
		if (link)
			link.parentElement.hidden = !isAdmin();
		if (!isAdmin())
			$('admin-body').hidden = true;
		$('admin-denied').hidden = isAdmin();
	}

	function signedOutHere(message) {
		session = null;
		reflect();
		if (message)
			note('admin-status', message, true);
	}

	/* ============================================================ rules */

	const FIELDS = ['name', 'kind', 'severity', 'filter.action', 'filter.outcome',
		'filter.service', 'filter.actor', 'filter.source_ip', 'threshold.count',
		'threshold.window_seconds', 'threshold.group_by', 'absence.service', 'absence.seconds'];

	function fid(f) {
		return 'rule-' + f.replace('.', '-');
	}

	function formRule() {
		const v = (f) => $(fid(f)).value.trim();
		const kind = v('kind');
		const rule = { name: v('name'), kind, severity: v('severity'), enabled: $('rule-enabled').checked };
		const filter = {};
		for (const k of ['action', 'outcome', 'service', 'actor', 'source_ip'])
			if (v('filter.' + k))
				filter[k] = v('filter.' + k);
		if (kind !== 'absence' || Object.keys(filter).length)
			rule.filter = filter;
		const num = (f) => (v(f) === '' ? undefined : Number(v(f)));
		if (kind === 'threshold') {
			rule.threshold = { count: num('threshold.count'), window_seconds: num('threshold.window_seconds') };
			if (v('threshold.group_by'))
				rule.threshold.group_by = v('threshold.group_by');
		}
		if (kind === 'absence')
			rule.absence = { service: v('absence.service'), seconds: num('absence.seconds') };
		return rule;
	}

	function fillForm(rule) {
		editing = rule ? rule.id : null;
		const set = (f, x) => { $(fid(f)).value = x === undefined || x === null ? '' : x; };
		rule = rule || { kind: 'match', severity: 'medium', enabled: true };
		set('name', rule.name);
		set('kind', rule.kind);
		set('severity', rule.severity || 'medium');
		for (const k of ['action', 'outcome', 'service', 'actor', 'source_ip'])
			set('filter.' + k, (rule.filter || {})[k]);
		set('threshold.count', (rule.threshold || {}).count);
		set('threshold.window_seconds', (rule.threshold || {}).window_seconds);
		set('threshold.group_by', (rule.threshold || {}).group_by);
		set('absence.service', (rule.absence || {}).service);
		set('absence.seconds', (rule.absence || {}).seconds);
		$('rule-enabled').checked = rule.enabled !== false;
		$('rule-form-h').textContent = editing ? 'Edit rule ' + editing : 'New rule';
		$('rule-cancel').hidden = !editing;
		kindChanged();
		clearErrors();
	}

	function kindChanged() {
		const k = $(fid('kind')).value;
		$('rule-threshold').hidden = k !== 'threshold';
		$('rule-absence').hidden = k !== 'absence';
	}

	function clearErrors() {
		for (const f of FIELDS) {
			const p = $(fid(f) + '-err');
			p.textContent = '';
			$(fid(f)).removeAttribute('aria-invalid');
		}
		note('rule-msg', '');
	}

	/* Invariant 4: the message by the field the server names. */
	function showError(e) {
		const f = e instanceof ApiError && e.field ? e.field : null;
		if (f && FIELDS.includes(f)) {
			$(fid(f) + '-err').textContent = e.message;
			$(fid(f)).setAttribute('aria-invalid', 'true');
			$(fid(f)).focus();
		}
		note('rule-msg', (f ? 'Not saved: ' : '') + errText(e), true);
	}

	async function saveRule(ev) {
		ev.preventDefault();
		clearErrors();
		try {
			if (editing)
				await api('POST', '/v1/alerts/rules/' + encodeURIComponent(editing), formRule());
			else
				await api('POST', '/v1/alerts/rules', formRule());
			const what = editing ? 'Rule saved.' : 'Rule created.';
			fillForm(null);
			note('rule-msg', what);
			await loadRules();
		} catch (e) {
			showError(e);
		}
	}

	async function testRule() {
		clearErrors();
		try {
			const r = await api('POST', '/v1/alerts/rules/test', { rule: formRule(), last: 1000 });
			note('rule-msg', (r.would_fire ? 'Would fire' : 'Would not fire') + ': ' + r.matched +
				' of the last ' + r.evaluated + ' events match' +
				(r.fires_count ? ', ' + r.fires_count + ' alert' + (r.fires_count > 1 ? 's' : '') : '') + '.');
		} catch (e) {
			showError(e);
		}
	}

	async function setEnabled(rule, on) {
		const copy = Object.assign({}, rule, { enabled: on });
		try {
			await api('POST', '/v1/alerts/rules/' + encodeURIComponent(rule.id), copy);
			note('admin-status', 'Rule ' + rule.name + (on ? ' enabled.' : ' disabled.'));
			await loadRules();
		} catch (e) {
			note('admin-status', 'Could not change the rule: ' + errText(e), true);
		}
	}

	async function deleteRule(rule) {
		if (!window.confirm('Delete the rule "' + rule.name + '"?'))
			return;
		try {
			await api('DELETE', '/v1/alerts/rules/' + encodeURIComponent(rule.id));
			note('admin-status', 'Rule ' + rule.name + ' deleted.');
			await loadRules();
		} catch (e) {
			note('admin-status', 'Could not delete the rule: ' + errText(e), true);
		}
	}

	function describeRule(r) {
		const f = Object.entries(r.filter || {}).map(([k, v]) => k + '=' + v).join(' ');
		if (r.kind === 'threshold')
			return f + ' ≥ ' + r.threshold.count + ' in ' + r.threshold.window_seconds + ' s' +
				(r.threshold.group_by ? ' per ' + r.threshold.group_by : '');
		if (r.kind === 'absence')
			return 'no event of ' + r.absence.service + ' for ' + r.absence.seconds + ' s';
		return f;
	}

	async function loadRules() {
		const box = clear($('admin-rules')), mine = latest('rules');
		try {
			const list = (await api('GET', '/v1/alerts/rules')).rules || [];
			if (!mine())
				return;
			rules = list;
			box.replaceChildren(table('Alert rules', ['Name', 'Kind', 'Condition', 'Severity', 'State', 'Actions'],
				list.map((r) => el('tr', { 'data-rule': r.id },
					el('td', { text: r.name }), el('td', { text: r.kind }),
					el('td', { text: describeRule(r) }), el('td', { text: r.severity }),
					el('td', { text: r.enabled === false ? 'disabled' : 'enabled' }),
					el('td', { class: 'actions' },
						el('button', { type: 'button', class: 'secondary', text: 'Edit',
							'aria-label': 'Edit rule ' + r.name,
							onclick: () => { fillForm(r); $(fid('name')).focus(); } }),
						el('button', { type: 'button', class: 'secondary',
							text: r.enabled === false ? 'Enable' : 'Disable',
							'aria-label': (r.enabled === false ? 'Enable' : 'Disable') + ' rule ' + r.name,
							onclick: () => setEnabled(r, r.enabled === false) }),
						el('button', { type: 'button', class: 'secondary danger', text: 'Delete',
							'aria-label': 'Delete rule ' + r.name, onclick: () => deleteRule(r) })))),
				'No rules yet: create one below.'));
		} catch (e) {
			if (mine())
				box.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Rules: ' + errText(e) }));
		}
	}

	/* ===================================================== fired alerts */

	function pickAlert(a, state) {
		$('ack-id').value = a.id;
		$('ack-state').value = state;
		$('ack-what').textContent = (state === 'resolved' ? 'Resolve ' : 'Acknowledge ') +
			a.rule.name + ' (' + a.id + ')';
		$('ack-form').hidden = false;
		$('ack-reason').value = '';
		note('ack-msg', '');
		$('ack-reason').focus();
	}

	async function sendAck(ev) {
		ev.preventDefault();
		const reason = $('ack-reason').value.trim();
		if (!reason) {
			note('ack-msg', 'Say why: a reason is required.', true);
			$('ack-reason').focus();
			return;
		}
		try {
			const a = await api('POST', '/v1/alerts/state',
				{ id: $('ack-id').value, state: $('ack-state').value, reason });
			$('ack-form').hidden = true;
			note('admin-status', 'Alert ' + a.id + ' is now ' + a.status + '.');
			await loadFired();
		} catch (e) {
			note('ack-msg', errText(e), true);
		}
	}

	async function loadFired() {
		const box = clear($('admin-fired')), mine = latest('fired');
		try {
			const list = (await api('GET', '/v1/alerts?limit=100')).alerts || [];
			if (!mine())
				return;
			box.replaceChildren(table('Fired alerts', ['Time (UTC)', 'Rule', 'Severity', 'Group', 'Status', 'Actions'],
				list.map((a) => {
					const st = a.status || 'open';
					const who = a.resolved || a.acknowledged;
					return el('tr', { 'data-alert': a.id },
						el('td', { text: a.time || '' }), el('td', { text: a.rule.name }),
						el('td', { text: a.rule.severity || '' }), el('td', { text: a.group || '' }),
						el('td', null, el('span', { class: 'pill ' + st, text: st }),
							who ? el('span', { class: 'muted', text: ' by ' + who.by + ': ' + who.reason }) : null),
						el('td', { class: 'actions' },
							st === 'open' ? el('button', { type: 'button', class: 'secondary',
								text: 'Acknowledge', 'aria-label': 'Acknowledge alert ' + a.id,
								onclick: () => pickAlert(a, 'acknowledged') }) : null,
							st !== 'resolved' ? el('button', { type: 'button', class: 'secondary',
								text: 'Resolve', 'aria-label': 'Resolve alert ' + a.id,
								onclick: () => pickAlert(a, 'resolved') }) : null));
				}), 'No alert has fired recently.'));
		} catch (e) {
			if (mine())
				box.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Fired alerts: ' + errText(e) }));
		}
	}

	/* ========================================================= webhooks */

	async function testHook(name) {
		note('admin-status', 'Sending a test to ' + name + '…');
		try {
			const r = await api('POST', '/v1/webhooks/' + encodeURIComponent(name) + '/test');
			note('admin-status', r.delivered ? 'Test delivered to ' + name + ' in ' + r.latency_ms + ' ms.' :
				'Test to ' + name + ' failed: ' + (r.error || '') + (r.status ? ' (HTTP ' + r.status + ')' : ''),
				!r.delivered);
			await showDeliveries(name);
		} catch (e) {
			note('admin-status', 'Test failed: ' + errText(e), true);
		}
	}

	async function showDeliveries(name) {
		const box = clear($('admin-deliveries')), mine = latest('deliveries');
		try {
			const d = (await api('GET', '/v1/webhooks/' + encodeURIComponent(name) + '/deliveries')).deliveries;
			if (!mine())
				return;
			box.replaceChildren(el('h3', { text: 'Deliveries to ' + name }),
				table('Deliveries to ' + name, ['Time (UTC)', 'Result', 'HTTP status', 'Latency', 'Alert', 'Error'],
					d.map((x) => el('tr', null, el('td', { text: x.time }), el('td', { text: x.result }),
						el('td', { text: x.status || '-' }),
						el('td', { text: x.latency_ms === null ? '-' : x.latency_ms + ' ms' }),
						el('td', { text: x.alert }), el('td', { text: x.error || '' }))),
					'Nothing delivered to ' + name + ' since the server started.'));
		} catch (e) {
			if (mine())
				box.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Deliveries: ' + errText(e) }));
		}
	}

	async function loadHooks() {
		const box = clear($('admin-hooks')), mine = latest('hooks');
		try {
			const list = (await api('GET', '/v1/alerts/webhooks')).webhooks || [];
			if (!mine())
				return;
			box.replaceChildren(table('Webhooks', ['Name', 'URL', 'Format', 'Actions'],
				list.map((w) => el('tr', null, el('td', { text: w.name }), el('td', { text: w.url }),
					el('td', { text: w.format || 'json' }),
					el('td', { class: 'actions' },
						el('button', { type: 'button', class: 'secondary', text: 'Send test',
							'aria-label': 'Send test to ' + w.name, onclick: () => testHook(w.name) }),
						el('button', { type: 'button', class: 'secondary', text: 'Deliveries',
							'aria-label': 'Deliveries to ' + w.name, onclick: () => showDeliveries(w.name) })))),
				'No webhooks: add one with POST /v1/alerts/webhooks.'));
		} catch (e) {
			if (mine())
				box.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Webhooks: ' + errText(e) }));
		}
	}

	/* ============================================= holds and retention */

	function holdWhat(h) {
		if (h.service)
			return 'service ' + h.service;
		if (h.actor || h.actor_hash)
			return 'actor ' + (h.actor || h.actor_hash.slice(0, 12) + '…');
		return 'received ' + (h.from || '…') + ' to ' + (h.to || '…');
	}

	async function placeHold(ev) {
		ev.preventDefault();
		const kind = $('hold-kind').value, value = $('hold-value').value.trim();
		const reason = $('hold-reason').value.trim();
		const body = { reason };
		note('hold-msg', '');
		if (!reason) {
			note('hold-msg', 'Say why: a reason is required.', true);
			$('hold-reason').focus();
			return;
		}
		if (kind === 'time') {
			body.from = $('hold-from').value.trim();
			body.to = $('hold-to').value.trim();
		} else {
			body[kind] = value;
		}
		try {
			const h = await api('POST', '/v1/holds', body);
			note('hold-msg', 'Hold ' + h.id + ' placed.');
			$('hold-value').value = '';
			$('hold-reason').value = '';
			await loadHolds();
		} catch (e) {
			note('hold-msg', errText(e), true);
		}
	}

	async function releaseHold(h) {
		const reason = window.prompt('Why is hold ' + h.id + ' (' + holdWhat(h) + ') released?');
		if (!reason || !reason.trim()) {
			note('hold-msg', 'Not released: a reason is required.', true);
			return;
		}
		try {
			await api('DELETE', '/v1/holds/' + encodeURIComponent(h.id) + '?reason=' +
				encodeURIComponent(reason.trim()));
			note('hold-msg', 'Hold ' + h.id + ' released.');
			await loadHolds();
		} catch (e) {
			note('hold-msg', errText(e), true);
		}
	}

	function segRows(list, withHolds) {
		return list.map((s) => el('tr', null,
			el('td', { text: s.first + '–' + s.last }), el('td', { text: s.entries }),
			el('td', { text: s.newest }), el('td', { text: (s.services || []).join(', ') }),
			el('td', { text: s.due ? 'yes' : 'no' }),
			withHolds ? el('td', { text: (s.held_by || []).join(', ') || '-' }) : null));
	}

	async function loadHolds() {
		const box = clear($('admin-holds')), plan = clear($('admin-plan')), mine = latest('holds');
		const [p, holds] = await Promise.all([
			api('GET', '/v1/retention/plan').catch((e) => e),
			api('GET', '/v1/holds').then((j) => (j && j.holds) || [], (e) => e),
		]);
		if (!mine())
			return;
		const keeps = {};
		for (const h of (p instanceof Error ? null : p && p.holds) || [])
			keeps[h.id] = h;
		if (holds instanceof Error)
			box.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Holds: ' + errText(holds) }));
		else
			box.replaceChildren(table('Legal holds', ['Hold', 'Protects', 'Reason', 'Placed', 'Keeps now', 'Actions'],
				holds.map((h) => el('tr', { 'data-hold': h.id }, el('td', { text: h.id }),
					el('td', { text: holdWhat(h) }), el('td', { text: h.reason || '' }),
					el('td', { text: h.placed || '' }),
					el('td', { text: keeps[h.id] ? keeps[h.id].segments + ' archived segments, ' +
						keeps[h.id].entries + ' entries' : '-' }),
					el('td', { class: 'actions' }, el('button', { type: 'button', class: 'secondary danger',
						text: 'Release', 'aria-label': 'Release hold ' + h.id, onclick: () => releaseHold(h) })))),
				'No legal holds: everything past its retention will be purged.'));
		if (p instanceof Error) {
			plan.replaceChildren(el('p', { class: 'error', role: 'alert', text: 'Retention plan: ' + errText(p) }));
			return;
		}
		if (!p)
			return;
		if (!p.configured) {
			plan.replaceChildren(el('p', { class: 'empty', text: 'No retention policy (DIR/retention.json): nothing is archived or purged.' }));
			return;
		}
		const heads = ['Entries', 'Count', 'Newest (UTC)', 'Services', 'Due now'];
		plan.replaceChildren(el('h3', { text: 'Archive next' }),
			table('Archive next', heads, segRows(p.archive, false), 'Nothing sealed is waiting to be archived.'),
			el('h3', { text: 'Purge next' }),
			table('Purge next', heads.concat(['Held by']), segRows(p.purge, true), 'Nothing archived is waiting to be purged.'));
	}

	/* ============================================================== page */

	async function show() {
		if (!session)
			await loadSession();
		reflect();
		if (!isAdmin())
			return;
		$('admin-body').hidden = false;
		await Promise.all([loadRules(), loadFired(), loadHooks(), loadHolds()]);
	}

	/* A reload keeps the session (the cookie): with no token in app.js, the
	 * admin page still opens from it.  Asked only on #/admin: elsewhere
	 * app.js's sign-in makes the session (a 401 here would be noise). */
	async function boot() {
		if (!/^#\/admin/.test(location.hash))
			return;
		await loadSession();
		if (isAdmin()) {
			for (const p of document.querySelectorAll('main > .page'))
				p.hidden = p.id !== 'page-admin';
			$('nav').hidden = false;
			await show();
		}
	}

	window.logsealAdmin = {
		/* app.js, after the token proved itself: exchange it for a session. */
		async signedIn(token) {
			try {
				const r = await fetch('/v1/session', { method: 'POST', credentials: 'same-origin',
					headers: { Authorization: 'Bearer ' + token }, cache: 'no-store' });
				session = r.ok ? await r.json() : null;
			} catch (_) {
				session = null;
			}
			reflect();
		},
		async signedOut() {
			if (session) {
				try { await api('DELETE', '/v1/session'); } catch (_) { /* ended anyway */ }
			}
			session = null;
			reflect();
		},
		show,
		session: () => session,
	};

	document.addEventListener('DOMContentLoaded', () => {
		$('rule-form').addEventListener('submit', saveRule);
		$('rule-test').addEventListener('click', testRule);
		$('rule-cancel').addEventListener('click', () => fillForm(null));
		$(fid('kind')).addEventListener('change', kindChanged);
		$('ack-form').addEventListener('submit', sendAck);
		$('ack-cancel').addEventListener('click', () => { $('ack-form').hidden = true; });
		$('hold-form').addEventListener('submit', placeHold);
		$('hold-kind').addEventListener('change', () => {
			const t = $('hold-kind').value === 'time';
			$('hold-value-box').hidden = t;
			$('hold-range').hidden = !t;
		});
		$('admin-refresh').addEventListener('click', show);
		/* navigation to #/admin: app.js's route calls show() */
		fillForm(null);
		boot();
	});
})();
