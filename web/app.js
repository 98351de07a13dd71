/*
 * app.js - the logseal dashboard: a single page served by logseal itself.
 * This file is the core (helpers, requests, sign-in, roles, routing, live
 * tail, event proof, alerts, tokens, integrity, retention) and publishes
 * what the page modules share as window.LS; the modules are loaded after
 * it by index.html (deferred, in order) and register their pages with
 * LS.addPage(): overview.js (the home page), search.js, admin.js (alert,
 * webhook, hold management).
 *
 * What must stay true:
 *  1. The token is never stored in the browser: not in a URL, localStorage
 *     or sessionStorage.  Sign-in exchanges it once (POST /v1/session with
 *     "Authorization: Bearer") for an HttpOnly session cookie the page
 *     cannot read; a reload keeps the session (GET /v1/session), and every
 *     state-changing request (POST/PUT/PATCH/DELETE) sends the session's
 *     CSRF token in X-CSRF-Token.  Against a server without sessions (404
 *     on /v1/session) the token is kept in one closure variable only and
 *     sent as a bearer header; a reload then asks for it again.
 *  2. Nothing is loaded from anywhere but this server (the CSP forbids it
 *     anyway): no CDN, no fonts, no inline script or style.  Server data is
 *     only ever put in the page as text (textContent), never as HTML.
 *  3. The live tail reads GET /v1/stream with fetch() and a stream reader
 *     (EventSource cannot send a header) and parses Server-Sent Events
 *     itself; pausing closes the stream and resuming reopens it from the
 *     last seen index with Last-Event-ID, so nothing is skipped.
 *  4. "verified" on an event is computed here, with WebCrypto SHA-256, from
 *     the exact entry bytes up to the root in the signed checkpoint text
 *     (RFC 6962 leaf/node hashes, RFC 9162 section 2.1.3.2 verification),
 *     and the checkpoint's Ed25519 signature is checked here too (WebCrypto)
 *     with the verifier key whose id matches its name and key; the server's
 *     own leaf_hash is only compared, never trusted.  The key comes from the
 *     same server: the integrity page shows it in full to be compared with
 *     the operator's copy.
 */
'use strict';

(function () {
	let token = null;	/* invariant 1: memory only, and only without sessions */
	/* mode: 'cookie' (a server session) or 'token' (bearer from memory);
	 * roles: from GET /v1/whoami or the session (null: unknown, show all). */
	const session = { mode: null, csrf: null, roles: null, tokenId: null };
	const $ = (id) => document.getElementById(id);

	/* ============================================================ helpers */

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
			if (kid === null || kid === undefined)
				continue;
			e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
		}
		return e;
	}

	function clear(node) {
		while (node.firstChild)
			node.removeChild(node.firstChild);
		return node;
	}

	function say(text, isError) {
		const s = clear($('status'));
		if (text)
			s.append(el('div', { class: 'msg' + (isError ? ' err' : '') }, text));
	}

	class ApiError extends Error {
		constructor(status, code, message) {
			super(message);
			this.status = status;
			this.code = code;
		}
	}

	function describe(e) {
		if (e instanceof ApiError) {
			if (e.status === 404 && (e.code === 'not_found' || e.code === 'not_implemented'))
				return 'not available on this server (' + e.status + ' ' + e.code + ')';
			if (e.status === 403)
				return 'your token lacks the role for this (' + e.message + ')';
			return e.status + ' ' + e.code + ': ' + e.message;
		}
		return String(e && e.message ? e.message : e);
	}

	/* fetch with the bearer header; returns the Response when ok, else throws
	 * ApiError carrying the server's {"error":{code,message}}. */
	async function request(path, opts) {
		opts = opts || {};
		const headers = new Headers(opts.headers || {});
		const method = opts.method || 'GET';
		if (session.mode === 'token' && token)
			headers.set('Authorization', 'Bearer ' + token);
		if (session.mode === 'cookie' && session.csrf && method !== 'GET' && method !== 'HEAD')
			headers.set('X-CSRF-Token', session.csrf);
		const resp = await fetch(path, {
			method,
			headers,
			body: opts.body,
			signal: opts.signal,
			cache: 'no-store',
			credentials: 'same-origin',
			redirect: 'error',
			referrerPolicy: 'no-referrer',
		});
		if (resp.ok)
			return resp;
		let code = 'http_' + resp.status, message = resp.statusText || 'request failed';
		try {
			const j = await resp.json();
			if (j && j.error) {
				code = j.error.code || code;
				message = j.error.message || message;
			}
		} catch (_) { /* not JSON */ }
		if (resp.status === 401 && session.mode && !opts.quiet) {
			signOut(session.mode === 'cookie' ?
				'Your session has ended (' + message + '); sign in again.' :
				'The server refused the token (' + message + '); sign in again.');
		}
		throw new ApiError(resp.status, code, message);
	}

	async function getJSON(path) {
		return (await request(path)).json();
	}

	async function sendJSON(method, path, body) {
		const r = await request(path, {
			method,
			headers: { 'Content-Type': 'application/json' },
			body: body === undefined ? undefined : JSON.stringify(body),
		});
		return r.status === 204 ? null : r.json();
	}

	function b64ToBytes(s) {
		const bin = atob(s);
		const out = new Uint8Array(bin.length);
		for (let i = 0; i < bin.length; i++)
			out[i] = bin.charCodeAt(i);
		return out;
	}

	function bytesToB64(b) {
		let s = '';
		for (let i = 0; i < b.length; i++)
			s += String.fromCharCode(b[i]);
		return btoa(s);
	}

	function hex(b) {
		return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
	}

	function sameBytes(a, b) {
		if (a.length !== b.length)
			return false;
		let d = 0;
		for (let i = 0; i < a.length; i++)
			d |= a[i] ^ b[i];
		return d === 0;
	}

	function ago(ms) {
		const s = Math.round(ms / 1000);
		if (s < 90)
			return s + ' s';
		if (s < 5400)
			return Math.round(s / 60) + ' min';
		if (s < 172800)
			return (s / 3600).toFixed(1) + ' h';
		return Math.round(s / 86400) + ' days';
	}

	function na(text) {
		return el('span', { class: 'na', text: text || 'not available' });
	}

	function kv(dl, pairs) {
		clear(dl);
		for (const [k, v] of pairs) {
			dl.append(el('dt', { text: k }));
			dl.append(el('dd', {}, v instanceof Node ? v : (v === null || v === undefined ? na() : String(v))));
		}
	}

	/* ========================================================= event rows */

	function str(v) {
		return v === null || v === undefined ? '' : String(v);
	}

	function eventRow(index, e, fresh) {
		e = e || {};
		const actor = e.actor || {}, src = e.source || {}, res = e.resource || {};
		const outcome = str(e.outcome);
		const link = el('a', { href: '#/event/' + index, 'aria-label': 'event ' + index }, String(index));
		return el('tr', { class: fresh ? 'fresh' : null, 'data-index': index },
			el('td', { class: 'num' }, link),
			el('td', { class: 'time' }, str(e.time).replace('T', ' ').replace(/\.\d+Z$/, 'Z')),
			el('td', {}, str(actor.id) + (actor.type ? ' (' + actor.type + ')' : '')),
			el('td', {}, str(e.action)),
			el('td', {}, el('span', { class: 'badge ' + outcome }, outcome)),
			el('td', {}, str(src.ip || src.endpoint)),
			el('td', {}, str(e.service)),
			el('td', {}, [res.type, res.id].filter(Boolean).join(' ')));
	}

	/* A generic table for objects whose exact fields the server decides
	 * (alerts, rules, retention): known columns first, then the rest. */
	function objectTable(items, preferred, actions) {
		if (!items.length)
			return el('p', { class: 'empty', text: 'none' });
		const cols = [];
		for (const c of preferred)
			if (items.some((it) => it && it[c] !== undefined))
				cols.push(c);
		for (const it of items)
			for (const c of Object.keys(it || {}))
				if (!cols.includes(c) && cols.length < 9)
					cols.push(c);
		const head = el('tr', {}, cols.map((c) => el('th', { scope: 'col', text: c })),
			actions ? el('th', { scope: 'col', text: 'actions' }) : null);
		const rows = items.map((it) => el('tr', {},
			cols.map((c) => {
				let v = it ? it[c] : undefined;
				if (v !== null && typeof v === 'object')
					v = JSON.stringify(v);
				v = str(v);
				return el('td', {}, v.length > 240 ? v.slice(0, 240) + '...' : v);
			}),
			actions ? el('td', {}, actions(it)) : null));
		return el('table', {}, el('thead', {}, head), el('tbody', {}, rows));
	}

	function listFrom(j, key) {
		if (Array.isArray(j))
			return j;
		if (j && Array.isArray(j[key]))
			return j[key];
		if (j && typeof j === 'object')
			for (const v of Object.values(j))
				if (Array.isArray(v))
					return v;
		return [];
	}

	/* ========================================================== routing */

	/* Each page and the role it needs (null: any signed-in token).  The page
	 * modules add theirs with LS.addPage(name, {role, load, leave}). */
	const pageDefs = {
		login: { role: null },
		overview: { role: 'auditor' },
		tail: { role: 'auditor', load: () => tail.start(), leave: () => tail.stop() },
		search: { role: 'auditor' },
		event: { role: 'auditor', load: (arg) => { if (arg !== undefined && arg !== '') openEvent(arg); } },
		alerts: { role: 'auditor', load: () => loadAlerts() },
		tokens: { role: 'admin', load: () => loadTokens() },
		integrity: { role: 'auditor', load: () => loadIntegrity() },
		retention: { role: 'auditor', load: () => loadRetention() },
		/* the admin screens (admin.js, window.logsealAdmin): they read the
		 * session this page made (GET /v1/session).  Every navigation to
		 * #/admin shows them from here; a reload on #/admin is shown by
		 * admin.js's own start instead, so it is read once.  (Overlapping
		 * show() calls draw only the latest load.) */
		admin: { role: 'admin', load: () => {
			if (window.logsealAdmin && !(resuming && /^#\/admin/.test(location.hash)))
				window.logsealAdmin.show();
		} },
		noaccess: { role: null },
	};
	let current = null;

	/* A module's page: def.role, def.load(arg, query), def.leave(); with
	 * def.nav (a label) it gets a link in the navigation and, when
	 * index.html has no #page-NAME, an empty section with that heading for
	 * the module to fill. */
	function addPage(name, def) {
		pageDefs[name] = Object.assign(pageDefs[name] || {}, def);
		if (!def.nav)
			return;
		readyHooks.push(() => {
			if (!document.querySelector('#nav a[data-page="' + name + '"]'))
				document.querySelector('#nav ul').append(el('li', {},
					el('a', { href: '#/' + name, 'data-page': name }, def.nav)));
			if (!$('page-' + name))
				$('main').append(el('section', { id: 'page-' + name, class: 'page', hidden: true,
					'aria-labelledby': name + '-h' }, el('h1', { id: name + '-h' }, def.title || def.nav)));
		});
	}

	function hasRole(role) {
		return !role || session.roles === null || session.roles.includes(role);
	}

	/* The first page this token may use: the overview for auditors. */
	function home() {
		for (const p of ['overview', 'tokens'])
			if (pageDefs[p] && hasRole(pageDefs[p].role))
				return p;
		return 'noaccess';
	}

	/* Show only the navigation a token may use (role-aware UI). */
	function applyRoles() {
		for (const a of document.querySelectorAll('#nav a[data-page]')) {
			const d = pageDefs[a.dataset.page];
			a.parentElement.hidden = !!d && !hasRole(d.role);
		}
		for (const e of document.querySelectorAll('[data-role]'))
			e.hidden = !hasRole(e.dataset.role);
		const who = $('whoami');
		if (who) {
			who.textContent = session.roles ? session.roles.join(' + ') : '';
			who.hidden = !session.roles;
		}
	}

	/* #/page/arg?query: the query carries a page's state (search filters),
	 * never a token. */
	function parseHash() {
		const h = location.hash.replace(/^#\/?/, '');
		const qi = h.indexOf('?');
		const path = qi < 0 ? h : h.slice(0, qi);
		const [name, arg] = path.split('/');
		return { name, arg, query: new URLSearchParams(qi < 0 ? '' : h.slice(qi + 1)) };
	}

	function route() {
		const { name, arg, query } = parseHash();
		if (!session.mode) {
			show('login');
			return;
		}
		let page = name in pageDefs && name !== 'login' ? name : home();
		if (!hasRole(pageDefs[page].role))
			page = home();
		show(page, arg, query);
	}

	function show(page, arg, query) {
		const leaving = current;
		current = page;
		for (const p of Object.keys(pageDefs)) {
			const sec = $('page-' + p);
			if (sec)
				sec.hidden = p !== page;
		}
		for (const a of document.querySelectorAll('#nav a')) {
			if (a.dataset.page === page)
				a.setAttribute('aria-current', 'page');
			else
				a.removeAttribute('aria-current');
		}
		if (leaving && leaving !== page && pageDefs[leaving] && pageDefs[leaving].leave)
			pageDefs[leaving].leave();
		document.title = 'logseal - ' + page;
		say('');
		const h1 = document.querySelector('#page-' + page + ' h1');
		if (leaving !== null && h1) {
			h1.setAttribute('tabindex', '-1');
			h1.focus({ preventScroll: true });
		}
		if (page === 'login')
			$('login-token').focus();
		const d = pageDefs[page];
		if (d && d.load)
			d.load(arg, query || new URLSearchParams());
	}

	/* ============================================================ login */

	function setRoles(j) {
		if (Array.isArray(j.roles))
			session.roles = j.roles.map(String);
		else if (typeof j.role === 'string')
			session.roles = j.role.split(/[\s,+]+/).filter(Boolean);
		if (j.token_id)
			session.tokenId = j.token_id;
	}

	/* The token's exact roles (GET /v1/whoami); unknown when the server
	 * has no such endpoint (then every page is shown). */
	async function loadRoles() {
		try {
			setRoles(await (await request('/v1/whoami', { quiet: true })).json());
		} catch (e) {
			if (e instanceof ApiError && e.status === 401)
				throw e;
		}
	}

	function signedIn() {
		$('nav').hidden = false;
		$('logout').hidden = false;
		applyRoles();
		route();
	}

	async function signIn(ev) {
		ev.preventDefault();
		const input = $('login-token');
		const t = input.value.trim();
		const err = $('login-err');
		err.textContent = '';
		if (!t)
			return;
		let resp;
		try {
			resp = await fetch('/v1/session', { method: 'POST', headers: { Authorization: 'Bearer ' + t },
				cache: 'no-store', credentials: 'same-origin', redirect: 'error', referrerPolicy: 'no-referrer' });
		} catch (e) {
			err.textContent = 'Could not reach the server: ' + describe(e);
			return;
		}
		input.value = '';
		if (resp.ok) {
			const j = await resp.json();
			session.mode = 'cookie';
			session.csrf = j.csrf || null;
			session.roles = null;
			setRoles(j);
		} else if (resp.status === 404 || resp.status === 405) {
			/* a server without sessions: the token in memory (invariant 1) */
			token = t;
			session.mode = 'token';
			session.roles = null;
		} else {
			let msg = resp.status + ' ' + resp.statusText;
			try {
				const j = await resp.json();
				if (j && j.error)
					msg = j.error.message || j.error.code || msg;
			} catch (_) { /* not JSON */ }
			err.textContent = resp.status === 401 ? 'The server does not accept this token.' :
				'Could not sign in: ' + msg;
			return;
		}
		try {
			await loadRoles();
		} catch (e) {
			signOut('The server does not accept this token.');
			return;
		}
		signedIn();
	}

	/* A reload keeps the session: the cookie is sent, the page asks who it is. */
	let resuming = false;
	async function resume() {
		resuming = true;
		try {
			await resumeSession();
		} finally {
			resuming = false;
		}
	}

	async function resumeSession() {
		try {
			const resp = await fetch('/v1/session', { cache: 'no-store', credentials: 'same-origin' });
			if (resp.ok) {
				const j = await resp.json();
				session.mode = 'cookie';
				session.csrf = j.csrf || null;
				setRoles(j);
				await loadRoles();
				signedIn();
				return;
			}
		} catch (_) { /* no session: sign in */ }
		route();
	}

	function signOut(message) {
		/* admin.js forgets the session, and ends it when it holds it */
		const adminEnds = !!(window.logsealAdmin && window.logsealAdmin.session());
		if (window.logsealAdmin)
			window.logsealAdmin.signedOut();
		if (session.mode === 'cookie' && !adminEnds)
			fetch('/v1/session', { method: 'DELETE', credentials: 'same-origin', cache: 'no-store',
				headers: session.csrf ? { 'X-CSRF-Token': session.csrf } : {} }).catch(() => {});
		token = null;
		session.mode = null;
		session.csrf = null;
		session.roles = null;
		session.tokenId = null;
		verifierKeyText = null;
		tail.stop();
		$('nav').hidden = true;
		$('logout').hidden = true;
		tail.reset();
		for (const f of signOutHooks)
			f();
		clear($('tokens-list'));
		$('token-new').hidden = true;
		$('token-secret').value = '';
		history.replaceState(null, '', location.pathname);
		show('login');
		if (message)
			$('login-err').textContent = message;
	}
	const signOutHooks = [];
	signOutHooks.push(() => clearTimeout(verifyTimer));

	/* ======================================================== live tail */

	const tail = (function () {
		const MAX_ROWS = 500;
		let ctrl = null, lastId = null, paused = false, count = 0, retryTimer = null;
		let backoff = 1000;

		function state(text, cls) {
			const s = $('tail-state');
			s.textContent = text;
			s.className = 'pill ' + (cls || '');
		}

		function filterQuery() {
			const p = new URLSearchParams();
			for (const name of ['actor', 'action', 'outcome', 'service']) {
				const v = $('tail-' + name).value.trim();
				if (v)
					p.set(name, v);
			}
			const q = p.toString();
			return q ? '?' + q : '';
		}

		function add(index, entry) {
			const rows = $('tail-rows');
			rows.prepend(eventRow(index, entry, true));
			while (rows.children.length > MAX_ROWS)
				rows.removeChild(rows.lastChild);
			count++;
			$('tail-count').textContent = count + (count === 1 ? ' event' : ' events') +
				(rows.children.length < count ? ' (showing the newest ' + rows.children.length + ')' : '');
		}

		/* One SSE event (fields already joined).  Data is JSON: either
		 * {"index":N,"entry":{...}} or the entry itself with id: N. */
		function dispatch(ev) {
			if (ev.id !== null)
				lastId = ev.id;
			if (ev.type !== 'message' && ev.type !== 'event' && ev.type !== 'entry') {
				if (ev.data)
					say('stream: ' + ev.type + ': ' + ev.data, ev.type === 'error' || ev.type === 'lagged');
				return;
			}
			let j;
			try {
				j = JSON.parse(ev.data);
			} catch (_) {
				return;
			}
			let index = ev.id, entry = j;
			if (j && typeof j === 'object' && j.entry && typeof j.entry === 'object') {
				entry = j.entry;
				if (j.index !== undefined)
					index = String(j.index);
			}
			if (index !== null && index !== undefined)
				lastId = String(index);
			add(index === null ? '?' : index, entry);
		}

		async function run(signal) {
			const headers = { Accept: 'text/event-stream' };
			if (lastId !== null)
				headers['Last-Event-ID'] = lastId;
			const resp = await request('/v1/stream' + filterQuery(), { headers, signal });
			state('live', 'live');
			backoff = 1000;
			const reader = resp.body.getReader();
			const dec = new TextDecoder('utf-8');
			let buf = '';
			let ev = { type: 'message', data: [], id: null };
			for (;;) {
				const { value, done } = await reader.read();
				if (done)
					break;
				buf += dec.decode(value, { stream: true });
				let nl;
				while ((nl = buf.search(/\r\n|\r|\n/)) >= 0) {
					/* a lone \r at the end may be the first half of \r\n */
					if (buf[nl] === '\r' && nl === buf.length - 1)
						break;
					const line = buf.slice(0, nl);
					buf = buf.slice(nl + (buf[nl] === '\r' && buf[nl + 1] === '\n' ? 2 : 1));
					if (line === '') {
						if (ev.data.length)
							dispatch({ type: ev.type, data: ev.data.join('\n'), id: ev.id });
						else if (ev.id !== null)
							lastId = ev.id;
						ev = { type: 'message', data: [], id: null };
						continue;
					}
					if (line[0] === ':')
						continue;	/* comment / keep-alive */
					const c = line.indexOf(':');
					const field = c < 0 ? line : line.slice(0, c);
					let val = c < 0 ? '' : line.slice(c + 1);
					if (val[0] === ' ')
						val = val.slice(1);
					if (field === 'data')
						ev.data.push(val);
					else if (field === 'event')
						ev.type = val || 'message';
					else if (field === 'id' && !val.includes('\0'))
						ev.id = val;
				}
				if (buf.length > 1 << 20)
					throw new Error('stream line longer than 1 MiB');
			}
		}

		function start() {
			if (ctrl || paused || !session.mode)
				return;
			clearTimeout(retryTimer);
			ctrl = new AbortController();
			const mine = ctrl;
			state('connecting', '');
			run(mine.signal).then(() => {
				if (ctrl === mine) {
					ctrl = null;
					state('reconnecting', 'down');
					retry();
				}
			}, (e) => {
				if (ctrl !== mine)
					return;	/* stopped on purpose */
				ctrl = null;
				state('disconnected', 'down');
				say('Live tail: ' + describe(e), true);
				if (!(e instanceof ApiError) || e.status >= 500 || e.status === 429)
					retry();
			});
		}

		function retry() {
			if (paused || !session.mode || current !== 'tail')
				return;
			retryTimer = setTimeout(start, backoff);
			backoff = Math.min(backoff * 2, 15000);
		}

		function stop() {
			clearTimeout(retryTimer);
			if (ctrl) {
				const c = ctrl;
				ctrl = null;
				c.abort();
			}
			state(paused ? 'paused' : 'stopped', paused ? 'paused' : '');
		}

		function togglePause() {
			paused = !paused;
			const b = $('tail-pause');
			b.setAttribute('aria-pressed', String(paused));
			b.textContent = paused ? 'Resume' : 'Pause';
			if (paused)
				stop();
			else
				start();
		}

		function reset() {
			lastId = null;
			count = 0;
			clear($('tail-rows'));
			$('tail-count').textContent = '0 events';
		}

		/* Empties the table but keeps the stream position. */
		function clearRows() {
			count = 0;
			clear($('tail-rows'));
			$('tail-count').textContent = '0 events';
		}

		function refilter(ev) {
			ev.preventDefault();
			stop();
			reset();
			start();
		}

		return { start, stop, togglePause, reset, refilter, clearRows };
	})();

	/* ============================================== event detail + proof */

	async function sha256(...parts) {
		let n = 0;
		for (const p of parts)
			n += p.length;
		const buf = new Uint8Array(n);
		let o = 0;
		for (const p of parts) {
			buf.set(p, o);
			o += p.length;
		}
		return new Uint8Array(await crypto.subtle.digest('SHA-256', buf));
	}

	const LEAF = new Uint8Array([0]), NODE = new Uint8Array([1]);

	/* RFC 9162 2.1.3.2: fold the audit path from leaf index to the root of
	 * a tree of size treeSize.  Returns the root, or throws why not. */
	async function rootFromInclusionProof(index, treeSize, leaf, proof) {
		let fn = BigInt(index), sn = BigInt(treeSize) - 1n;
		if (fn > sn)
			throw new Error('index ' + index + ' is not below tree size ' + treeSize);
		let r = leaf;
		for (const p of proof) {
			if (p.length !== 32)
				throw new Error('a proof hash is not 32 bytes');
			if (sn === 0n)
				throw new Error('the proof is longer than the path');
			if ((fn & 1n) === 1n || fn === sn) {
				r = await sha256(NODE, p, r);
				if ((fn & 1n) === 0n)
					while ((fn & 1n) === 0n && fn !== 0n) {
						fn >>= 1n;
						sn >>= 1n;
					}
			} else {
				r = await sha256(NODE, r, p);
			}
			fn >>= 1n;
			sn >>= 1n;
		}
		if (sn !== 0n)
			throw new Error('the proof is shorter than the path');
		return r;
	}

	/* A C2SP signed note holding a checkpoint: text, blank line, signature
	 * lines "\u2014 <name> <base64(keyid || sig)>". */
	function parseCheckpoint(note) {
		const cut = note.indexOf('\n\n');
		if (cut < 0)
			throw new Error('the checkpoint has no signature block');
		const lines = note.slice(0, cut + 1).split('\n');
		if (lines.length < 4)
			throw new Error('the checkpoint text has fewer than 3 lines');
		const origin = lines[0], sizeText = lines[1], rootText = lines[2];
		if (!/^(0|[1-9][0-9]*)$/.test(sizeText))
			throw new Error('bad tree size line in the checkpoint');
		const root = b64ToBytes(rootText);
		if (root.length !== 32)
			throw new Error('the checkpoint root is not 32 bytes');
		const sigs = [];
		for (const line of note.slice(cut + 2).split('\n')) {
			const m = /^\u2014 (\S+) (\S+)$/.exec(line);
			if (!m)
				continue;
			let keyId = null;
			try {
				const raw = b64ToBytes(m[2]);
				if (raw.length >= 4)
					keyId = hex(raw.slice(0, 4));
			} catch (_) { /* shown as unknown */ }
			sigs.push({ name: m[1], keyId });
		}
		return { origin, size: BigInt(sizeText), sizeText, root, rootText, sigs,
			extensions: lines.slice(3, -1) };
	}

	async function verifyEvent(j) {
		const entry = b64ToBytes(j.entry_b64);
		const leaf = await sha256(LEAF, entry);
		const cp = parseCheckpoint(j.checkpoint);
		const proof = (j.proof || []).map(b64ToBytes);
		const facts = { entry, leaf, cp, proof };
		if (j.leaf_hash && !sameBytes(leaf, b64ToBytes(j.leaf_hash)))
			return Object.assign(facts, { ok: false, why: 'the leaf hash of the entry bytes differs from the server\'s leaf_hash' });
		if (BigInt(j.tree_size) !== cp.size)
			return Object.assign(facts, { ok: false, why: 'the proof is for tree size ' + j.tree_size + ' but the checkpoint is for ' + cp.sizeText });
		let root;
		try {
			root = await rootFromInclusionProof(j.index, j.tree_size, leaf, proof);
		} catch (e) {
			return Object.assign(facts, { ok: false, why: e.message });
		}
		facts.root = root;
		if (!sameBytes(root, cp.root))
			return Object.assign(facts, { ok: false, why: 'the root computed from the proof differs from the checkpoint root' });
		return Object.assign(facts, { ok: true, why: 'entry ' + j.index + ' is in the tree of size ' + cp.sizeText +
			' whose root the checkpoint of ' + cp.origin + ' states' });
	}

	async function openEvent(arg) {
		const verdict = $('event-verdict');
		clear(verdict);
		verdict.className = 'verdict';
		$('event-index').textContent = arg;
		$('event-goto').value = arg;
		clear($('event-proof'));
		clear($('event-checkpoint'));
		$('event-entry').textContent = '';
		if (!/^[0-9]+$/.test(arg)) {
			say('An event index is a whole number.', true);
			return;
		}
		let j;
		try {
			j = await getJSON('/v1/events/' + arg);
		} catch (e) {
			say('Could not load event ' + arg + ': ' + describe(e), true);
			return;
		}
		let text;
		try {
			text = new TextDecoder('utf-8', { fatal: false }).decode(b64ToBytes(j.entry_b64 || ''));
			$('event-entry').textContent = JSON.stringify(JSON.parse(text), null, 2);
		} catch (_) {
			$('event-entry').textContent = text !== undefined ? text : JSON.stringify(j.entry, null, 2);
		}
		let v;
		try {
			if (!crypto.subtle)
				throw new Error('WebCrypto is not available (it needs a secure context: HTTPS or loopback)');
			v = await verifyEvent(j);
		} catch (e) {
			v = { ok: false, why: e.message };
		}
		/* The proof only reaches the checkpoint's root: the root counts
		 * once the checkpoint's signature verifies too (same check as the
		 * integrity page). */
		let sv;
		try {
			sv = await verifyCheckpointSignature(j.checkpoint, await verifierKey());
		} catch (e) {
			sv = { ok: false, why: 'the verifier key could not be fetched: ' + describe(e) };
		}
		if (v.ok && sv.ok)
			v.why += '; the checkpoint\'s ' + sv.why;
		else if (v.ok)
			v = Object.assign(v, { ok: false, why: 'the proof reaches the checkpoint root, but the checkpoint signature is NOT verified: ' + sv.why });
		verdict.className = 'verdict ' + (v.ok ? 'ok' : 'bad');
		verdict.append(el('span', { class: 'mark', 'data-verified': v.ok ? 'yes' : 'no' },
			v.ok ? '\u2714 verified' : '\u2718 NOT verified'),
		el('span', { class: 'why', text: v.why }));
		kv($('event-proof'), [
			['leaf index', j.index],
			['entry bytes', v.entry ? v.entry.length + ' bytes' : null],
			['leaf hash (computed)', v.leaf ? bytesToB64(v.leaf) : null],
			['leaf hash (server)', j.leaf_hash],
			['proof hashes', (j.proof || []).length],
			['root (computed)', v.root ? bytesToB64(v.root) : null],
		]);
		const cp = v.cp;
		kv($('event-checkpoint'), cp ? [
			['origin', cp.origin],
			['tree size', cp.sizeText],
			['root', cp.rootText],
			['signed by', cp.sigs.map((s) => s.name + ' (key id ' + (s.keyId || '?') + ')').join(', ') || null],
			['signature', el('span', { class: sv.ok ? 'sig-ok' : 'sig-bad', 'data-verified': sv.ok ? 'yes' : 'no' },
				(sv.ok ? '\u2714 signature verified: ' : '\u2718 signature NOT verified: ') + sv.why)],
		] : [['checkpoint', na('could not be parsed')]]);
	}

	/* The evidence file of the event shown (GET /v1/export?format=evidence):
	 * the entry, its proof and the cosigned checkpoint, checked offline
	 * by `logseal verify-bundle FILE --key K [--witness W ...]`. */
	async function downloadEvidence() {
		const arg = $('event-index').textContent;
		if (!/^[0-9]+$/.test(arg))
			return;
		try {
			const resp = await request('/v1/export?format=evidence&index=' + arg);
			const blob = await resp.blob();
			const url = URL.createObjectURL(blob);
			const a = el('a', { href: url, download: 'logseal-evidence-' + arg + '.json' });
			document.body.append(a);
			a.click();
			a.remove();
			setTimeout(() => URL.revokeObjectURL(url), 30000);
			say('Evidence for event ' + arg + ' downloaded (' + blob.size + ' bytes): check it with logseal verify-bundle.');
		} catch (e) {
			say('Evidence failed: ' + describe(e), true);
		}
	}

	/* =========================================================== alerts */

	function indexLinks(list) {
		const out = [];
		for (const i of (list || []).slice(0, 10)) {
			if (out.length)
				out.push(' ');
			out.push(el('a', { href: '#/event/' + i }, String(i)));
		}
		if ((list || []).length > 10)
			out.push(' ...');
		return out;
	}

	function describeFilter(f) {
		if (!f || typeof f !== 'object')
			return str(f);
		return Object.entries(f).map(([k, v]) => k + '=' + v).join(' ');
	}

	/* Fields as alert.h documents them; anything else falls back to a
	 * generic table so a newer server still shows something. */
	function alertsTable(list) {
		if (!list.length)
			return el('p', { class: 'empty', text: 'No alert has fired. Alerts appear here when a rule ' +
				'matches; an admin adds rules under Admin.' });
		const head = el('tr', {}, ['Time (UTC)', 'Rule', 'Severity', 'Group', 'Count', 'Events', 'Logged as', 'Delivery']
			.map((h) => el('th', { scope: 'col', text: h })));
		const rows = list.map((a) => {
			const rule = a.rule && typeof a.rule === 'object' ? a.rule : { name: str(a.rule) };
			const sev = str(rule.severity);
			let group = str(a.group);
			if (a.window_seconds)
				group += ' (' + (a.count || '?') + ' in ' + a.window_seconds + ' s)';
			else if (a.seconds)
				group = str(a.service) + ' silent for ' + a.seconds + ' s';
			return el('tr', {},
				el('td', { class: 'time', text: str(a.time).replace('T', ' ').replace(/\.\d+Z$/, 'Z') }),
				el('td', {}, str(rule.name || rule.id) + (rule.kind ? ' (' + rule.kind + ')' : '')),
				el('td', {}, el('span', { class: 'badge sev-' + sev }, sev || '?')),
				el('td', { text: group }),
				el('td', { class: 'num', text: str(a.count) }),
				el('td', {}, indexLinks(a.indexes)),
				el('td', {}, a.log_index !== undefined && a.log_index !== null ?
					el('a', { href: '#/event/' + a.log_index }, String(a.log_index)) : na('not yet')),
				el('td', { text: str(a.state) + ((a.webhooks || []).some((w) => w.last_error) ?
					': ' + a.webhooks.filter((w) => w.last_error).map((w) => w.name + ' ' + w.last_error).join('; ') : '') }));
		});
		return el('table', {}, el('thead', {}, head), el('tbody', {}, rows));
	}

	function rulesTable(list) {
		if (!list.length)
			return el('p', { class: 'empty', text: 'no rules' });
		const head = el('tr', {}, ['Id', 'Name', 'Kind', 'Condition', 'Severity', 'Enabled']
			.map((h) => el('th', { scope: 'col', text: h })));
		const rows = list.map((r) => {
			let cond = describeFilter(r.filter);
			if (r.threshold)
				cond += (cond ? '; ' : '') + r.threshold.count + ' in ' + r.threshold.window_seconds + ' s' +
					(r.threshold.group_by ? ' per ' + r.threshold.group_by : '');
			if (r.absence)
				cond += (cond ? '; ' : '') + 'no event from ' + r.absence.service + ' for ' + r.absence.seconds + ' s';
			return el('tr', {},
				el('td', { class: 'mono', text: str(r.id) }),
				el('td', { text: str(r.name) }),
				el('td', { text: str(r.kind) }),
				el('td', { text: cond }),
				el('td', {}, el('span', { class: 'badge sev-' + str(r.severity || 'medium') }, str(r.severity || 'medium'))),
				el('td', { text: r.enabled === false ? 'no' : 'yes' }));
		});
		return el('table', {}, el('thead', {}, head), el('tbody', {}, rows));
	}

	async function loadAlerts() {
		const fired = clear($('alerts-fired')), rules = clear($('alerts-rules'));
		fired.append(el('p', { class: 'empty', text: 'loading...' }));
		rules.append(el('p', { class: 'empty', text: 'loading...' }));
		/* Rules are admin-only: an auditor is not sent to a 403. */
		const admin = hasRole('admin');
		$('alerts-rules-h').hidden = !admin;
		rules.hidden = !admin;
		const [a, r] = await Promise.allSettled([getJSON('/v1/alerts'),
			admin ? getJSON('/v1/alerts/rules') : Promise.resolve({ rules: [] })]);
		clear(fired);
		clear(rules);
		if (a.status === 'fulfilled')
			fired.append(alertsTable(listFrom(a.value, 'alerts')));
		else
			fired.append(el('p', { class: 'error', text: 'Fired alerts: ' + describe(a.reason) }));
		if (r.status === 'fulfilled')
			rules.append(rulesTable(listFrom(r.value, 'rules')));
		else
			rules.append(el('p', { class: 'error', text: 'Rules: ' + describe(r.reason) }));
	}

	/* =========================================================== tokens */

	async function loadTokens() {
		const box = clear($('tokens-list'));
		let j;
		try {
			j = await getJSON('/v1/tokens');
		} catch (e) {
			box.append(el('p', { class: 'error', text: 'Tokens: ' + describe(e) }));
			return;
		}
		const list = listFrom(j, 'tokens');
		box.append(objectTable(list, ['id', 'name', 'roles', 'service', 'created', 'revoked'], (t) => {
			if (!t || t.revoked)
				return null;
			return el('button', { type: 'button', class: 'danger', 'aria-label': 'Revoke token ' + t.id + (t.name ? ' (' + t.name + ')' : ''),
				onclick: () => revokeToken(t) }, 'Revoke');
		}));
	}

	async function revokeToken(t) {
		if (!window.confirm('Revoke token ' + t.id + (t.name ? ' (' + t.name + ')' : '') + '? This cannot be undone.'))
			return;
		try {
			await sendJSON('DELETE', '/v1/tokens/' + encodeURIComponent(t.id));
			say('Token ' + t.id + ' revoked.');
		} catch (e) {
			say('Revoke failed: ' + describe(e), true);
		}
		loadTokens();
	}

	async function createToken(ev) {
		ev.preventDefault();
		const f = ev.target;
		const roles = Array.from(f.querySelectorAll('input[name="roles"]:checked'), (i) => i.value);
		if (!roles.length) {
			say('Choose at least one role.', true);
			return;
		}
		const body = { roles, name: $('tok-name').value.trim() };
		const svc = $('tok-service').value.trim();
		if (svc)
			body.service = svc;
		try {
			const j = await sendJSON('POST', '/v1/tokens', body);
			$('token-secret').value = j.token || '';
			$('token-new').hidden = false;
			$('token-secret').focus();
			$('token-secret').select();
			f.reset();
			say('Token ' + (j.id || '') + ' created.');
		} catch (e) {
			say('Create failed: ' + describe(e), true);
		}
		loadTokens();
	}

	/* ======================================================== integrity */

	/* The verifier key the server names (GET /v1/integrity), kept in
	 * memory like the token; the integrity page shows it in full so that
	 * it can be compared with the operator's copy of DIR/verifier.key. */
	let verifierKeyText = null;

	async function verifierKey() {
		if (verifierKeyText === null)
			verifierKeyText = (await getJSON('/v1/integrity')).verifier_key || null;
		return verifierKeyText;
	}

	/* A C2SP vkey "<name>+<hex key id>+<base64(0x01 || 32-byte Ed25519
	 * public key)>", its key id checked against SHA-256(name || 0x0A ||
	 * 0x01 || key). */
	async function parseVerifierKey(vkey) {
		const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/]+=*)$/.exec(String(vkey || ''));
		if (!m)
			throw new Error('the verifier key is not name+keyid+key');
		const raw = b64ToBytes(m[3]);
		if (raw.length !== 33 || raw[0] !== 1)
			throw new Error('the verifier key is not an Ed25519 key (type 0x01, 32 bytes)');
		const name = new TextEncoder().encode(m[1]);
		const id = (await sha256(name, new Uint8Array([0x0a]), raw)).slice(0, 4);
		if (hex(id) !== m[2])
			throw new Error('the verifier key\'s id ' + m[2] + ' does not match its name and key (' + hex(id) + ')');
		return { name: m[1], keyId: m[2], pub: raw.slice(1) };
	}

	/* Check the note's Ed25519 signature by vkey with WebCrypto.  Returns
	 * { ok, why, key }; never throws. */
	async function verifyCheckpointSignature(note, vkey) {
		let key;
		try {
			key = await parseVerifierKey(vkey);
		} catch (e) {
			return { ok: false, why: e.message };
		}
		const cut = note.indexOf('\n\n');
		if (cut < 0)
			return { ok: false, key, why: 'the checkpoint has no signature block' };
		const text = new TextEncoder().encode(note.slice(0, cut + 1));
		const lines = note.slice(cut + 2).split('\n');
		let sig = null;
		for (const line of lines) {
			const m = /^\u2014 (\S+) ([A-Za-z0-9+/]+=*)$/.exec(line);
			if (!m || m[1] !== key.name)
				continue;
			let raw;
			try {
				raw = b64ToBytes(m[2]);
			} catch (_) {
				continue;
			}
			if (raw.length >= 4 && hex(raw.slice(0, 4)) === key.keyId) {
				sig = raw.slice(4);
				break;
			}
		}
		if (!sig)
			return { ok: false, key, why: 'no signature line by ' + key.name + ' with key id ' + key.keyId };
		if (sig.length !== 64)
			return { ok: false, key, why: 'the signature is ' + sig.length + ' bytes, not 64' };
		if (!crypto.subtle)
			return { ok: false, key, why: 'WebCrypto is not available (it needs a secure context: HTTPS or loopback)' };
		try {
			const k = await crypto.subtle.importKey('raw', key.pub, { name: 'Ed25519' }, false, ['verify']);
			const good = await crypto.subtle.verify({ name: 'Ed25519' }, k, sig, text);
			return good ? { ok: true, key, why: 'Ed25519 signature by ' + key.name + ' (key id ' + key.keyId + ') checked in this browser' } :
				{ ok: false, key, why: 'the Ed25519 signature by ' + key.name + ' (key id ' + key.keyId + ') does not verify' };
		} catch (e) {
			return { ok: false, key, why: 'this browser cannot check Ed25519 signatures (' + (e && e.message ? e.message : e) + ')' };
		}
	}

	function sigMark(box, v) {
		clear(box);
		box.className = 'verdict ' + (v.ok ? 'ok' : 'bad');
		box.append(el('span', { class: 'mark', 'data-verified': v.ok ? 'yes' : 'no' },
			v.ok ? '\u2714 signature verified' : '\u2718 signature NOT verified'),
		el('span', { class: 'why', text: v.why }));
	}

	function utc(t) {
		return str(t).replace('T', ' ').replace(/\.\d+Z$/, 'Z');
	}

	/* A last verify (last_verify of GET /v1/integrity) is stale when it
	 * covered fewer entries than the latest checkpoint by a real gap (every
	 * read is an event, so a live log is always a little past it: over 10%
	 * and 50 entries) or is over a week old: the reason, or null. */
	function verifyStale(lv, cpSize) {
		const gap = typeof cpSize === 'number' && typeof lv.tree_size === 'number' ? cpSize - lv.tree_size : 0;
		const t = Date.parse(lv.time);
		const behind = gap > Math.max(50, cpSize * 0.1);
		const old = !isNaN(t) && Date.now() - t > 7 * 86400000;
		if (!behind && !old)
			return null;
		return 'Stale: the last verify ' + (behind ? 'covered ' + lv.tree_size + ' of the ' + cpSize +
			' entries under the latest checkpoint' : '') + (behind && old ? ' and ' : '') +
			(old ? 'is over 7 days old' : '') + '. Run a verify to cover the whole log.';
	}

	/* POST /v1/verify (admin), then GET /v1/verify every 0.7 s until the
	 * run is over, then done().  A refusal is shown in errBox. */
	let verifyTimer = null;
	async function startVerify(button, errBox, done) {
		button.disabled = true;
		button.textContent = 'Verify running...';
		try {
			await request('/v1/verify', { method: 'POST' });
		} catch (e) {
			if (!(e instanceof ApiError && e.status === 409)) {
				button.disabled = false;
				button.textContent = 'Start a full verify';
				errBox.append(el('p', { class: 'error', text: 'Could not start the verify: ' + describe(e) }));
				return;
			}
		}
		waitVerify(done);
	}

	function waitVerify(done) {
		clearTimeout(verifyTimer);
		verifyTimer = setTimeout(async () => {
			let v;
			try {
				v = await getJSON('/v1/verify');
			} catch (_) {
				return;	/* signed out, or the read was refused: shown elsewhere */
			}
			if (v.running)
				waitVerify(done);
			else
				done();
		}, 700);
	}

	async function loadIntegrity() {
		const dl = $('integrity-kv'), box = $('integrity-sig');
		kv(dl, [['status', 'loading...']]);
		clear(box);
		box.className = 'verdict';
		$('integrity-note').textContent = '';
		let j;
		try {
			j = await getJSON('/v1/integrity');
		} catch (e) {
			kv(dl, [['status', na(describe(e))]]);
			return;
		}
		verifierKeyText = j.verifier_key || null;
		const rows = [['log origin', j.origin]];
		let cp = null;
		if (typeof j.checkpoint === 'string') {
			$('integrity-note').textContent = j.checkpoint;
			sigMark(box, await verifyCheckpointSignature(j.checkpoint, j.verifier_key));
			try {
				cp = parseCheckpoint(j.checkpoint);
			} catch (e) {
				rows.push(['checkpoint', na('unreadable: ' + e.message)]);
			}
		} else {
			sigMark(box, { ok: false, why: 'the log has published no checkpoint yet' });
		}
		rows.push(['tree size (entries)', j.tree_size]);
		if (cp) {
			if (cp.origin !== j.origin)
				rows.push(['checkpoint origin', cp.origin + ' (differs from the log origin)']);
			const newer = j.tree_size !== undefined ? BigInt(j.tree_size) - cp.size : 0n;
			rows.push(['checkpoint tree size', cp.sizeText +
				(newer > 0n ? ' (' + newer + ' newer entries not yet in a checkpoint)' : '')]);
			rows.push(['checkpoint root', cp.rootText]);
			rows.push(['signed by', cp.sigs.map((s) => s.name + ' (key id ' + (s.keyId || '?') + ')').join(', ') ||
				na('no signature line')]);
		}
		rows.push(['latest checkpoint age', typeof j.checkpoint_age_seconds === 'number' ?
			ago(j.checkpoint_age_seconds * 1000) : na()]);
		rows.push(['verifier key', j.verifier_key ? el('code', { class: 'mono', text: j.verifier_key }) : na()]);
		const lv = j.last_verify;
		if (lv && typeof lv === 'object') {
			const t = Date.parse(lv.time);
			rows.push(['last full verify', el('span', { id: 'integrity-last-verify' },
				utc(lv.time) + (isNaN(t) ? '' : ' (' + ago(Date.now() - t) + ' ago)') + ': ',
				el('span', { class: 'badge ' + (lv.ok ? 'success' : 'failure') }, lv.ok ? 'ok' : 'FAILED'),
				' ' + str(lv.entries) + ' entries, ' + str(lv.checkpoints) + ' checkpoints, tree size ' + str(lv.tree_size))]);
			if (!lv.ok && lv.error)
				rows.push(['verify error', str(lv.error.message || lv.error.code || JSON.stringify(lv.error))]);
			const stale = verifyStale(lv, j.checkpoint_tree_size);
			if (stale)
				rows.push(['verify coverage', el('span', { class: 'warn', id: 'integrity-stale' }, stale)]);
			if (lv.purged)
				rows.push(['purged by policy', str(lv.purged_ranges || lv.purged + ' entries')]);
		} else {
			rows.push(['last full verify', na(j.last_verify_error ||
				'never recorded: run `logseal verify --data DIR` on the server')]);
		}
		const wj = j.witnesses;	/* serve --witness (docs/WITNESS.md) */
		if (wj && typeof wj === 'object') {
			const ws = Array.isArray(wj.witnesses) ? wj.witnesses : [];
			rows.push(['witness policy', el('span', { id: 'integrity-witnesses' },
				el('span', { class: 'badge ' + (wj.quorum_met ? 'success' : 'failure') },
					wj.quorum_met ? 'met' : 'NOT MET'),
				' ' + str(wj.quorum) + ' of ' + ws.length + ' witnesses, cosigned up to size ' +
				str(wj.quorum_size) + (wj.state !== 'ok' ? ': ' + str(wj.why || wj.state) : ''))]);
			for (const w of ws)
				rows.push(['witness ' + str(w.name), w.cosigned_size === null ?
					na(w.last_error || 'nothing cosigned yet') :
					'cosigned size ' + str(w.cosigned_size) + ', ' + ago(w.age_seconds * 1000) +
					' ago' + (w.last_error ? ' (last error: ' + w.last_error + ')' : '')]);
		}
		rows.push(['query index covers', str(j.index_watermark) + ' entries']);
		kv(dl, rows);
	}

	/* ======================================================== retention */

	function days(n) {
		return n === 0 ? '0 days' : n === 1 ? '1 day' : n + ' days';
	}

	async function loadRetention() {
		const pol = clear($('retention-policy')), arch = clear($('retention-archive'));
		const holds = clear($('retention-holds'));
		pol.append(el('p', { class: 'muted', text: 'loading...' }));
		let j;
		try {
			j = await getJSON('/v1/retention');
		} catch (e) {
			clear(pol).append(el('p', { class: 'error', text: 'Retention: ' + describe(e) }));
			return;
		}
		clear(pol);
		if (!j.configured) {
			pol.append(el('p', { class: 'empty', text: 'No retention policy is configured (DIR/retention.json): every event stays in the journal.' }));
		} else if (!j.policy) {
			pol.append(el('p', { class: 'error', text: 'DIR/retention.json is not valid, so no retention pass runs: ' + str(j.policy_error) }));
		} else {
			const rule = (name, r) => el('tr', {}, el('td', { text: name }),
				el('td', { class: 'num', text: days(r.hot_days) }),
				el('td', { class: 'num', text: days(r.archive_days) }),
				el('td', { class: 'num', text: days(r.hot_days + r.archive_days) }));
			const rows = [rule('default (every other service)', j.policy.default)];
			for (const [svc, r] of Object.entries(j.policy.services || {}))
				rows.push(rule(svc, r));
			pol.append(el('table', {}, el('thead', {}, el('tr', {},
				['Service', 'In the journal', 'Then in the archive', 'Content purged after']
					.map((h) => el('th', { scope: 'col', text: h })))), el('tbody', {}, rows)));
		}
		const list = Array.isArray(j.archive) ? j.archive : [];
		arch.append(el('p', {}, str(j.archived_entries) + ' entries archived (readable, compressed), ' +
			str(j.purged_entries) + ' entries purged (content gone; leaf hashes and checkpoints kept) of ' +
			str(j.tree_size) + ' in the log.'));
		if (j.archive_error)
			arch.append(el('p', { class: 'error', text: 'Archive manifest: ' + j.archive_error }));
		if (list.length) {
			const ev = (i) => i === undefined || i === null ? '' : el('a', { href: '#/event/' + i }, String(i));
			arch.append(el('table', {}, el('thead', {}, el('tr', {},
				['Entries', 'Segment', 'State', 'Archive event', 'Purge event']
					.map((h) => el('th', { scope: 'col', text: h })))),
			el('tbody', {}, list.map((a) => el('tr', {},
				el('td', { class: 'num', text: a.first + '..' + a.last }),
				el('td', { class: 'mono', text: str(a.segment) }),
				el('td', {}, el('span', { class: 'badge ' + (a.purged ? 'denied' : 'success') }, a.purged ? 'purged' : 'archived')),
				el('td', {}, ev(a.archive_event)),
				el('td', {}, ev(a.purge_event)))))));
		}
		/* Holds are admin-only: asked for only with a token that may see
		 * them (a 403 would be logged as a denial). */
		if (!(j.roles || []).includes('admin')) {
			holds.append(na('legal holds are shown to admin tokens only'));
			return;
		}
		try {
			const h = await getJSON('/v1/holds');
			const hl = listFrom(h, 'holds').map((x) => Object.assign({
				held: x.service ? 'service ' + x.service : x.actor_hash ? 'actor (hash) ' + x.actor_hash.slice(0, 16) + '...' :
					'received ' + utc(x.from) + ' to ' + utc(x.to) }, x));
			holds.append(hl.length ? objectTable(hl, ['id', 'held', 'placed', 'reason']) :
				el('p', { class: 'empty', text: 'no legal holds' }));
		} catch (e) {
			holds.append(el('p', { class: 'error', text: 'Holds: ' + describe(e) }));
		}
	}

	/* ============================================================= wire */

	document.addEventListener('DOMContentLoaded', () => {
		$('login-form').addEventListener('submit', signIn);
		$('logout').addEventListener('click', () => signOut(''));
		$('tail-pause').addEventListener('click', tail.togglePause);
		$('tail-clear').addEventListener('click', tail.clearRows);
		$('tail-form').addEventListener('submit', tail.refilter);
		$('event-evidence').addEventListener('click', downloadEvidence);
		$('event-form').addEventListener('submit', (ev) => {
			ev.preventDefault();
			location.hash = '#/event/' + $('event-goto').value;
		});
		$('alerts-refresh').addEventListener('click', loadAlerts);
		$('token-form').addEventListener('submit', createToken);
		$('token-copy').addEventListener('click', async () => {
			try {
				await navigator.clipboard.writeText($('token-secret').value);
				say('Copied.');
			} catch (_) {
				$('token-secret').select();
				say('Select the text and copy it by hand.', true);
			}
		});
		$('token-hide').addEventListener('click', () => {
			$('token-secret').value = '';
			$('token-new').hidden = true;
		});
		$('integrity-refresh').addEventListener('click', loadIntegrity);
		$('integrity-verify').addEventListener('click', () => startVerify($('integrity-verify'),
			$('integrity-verify-err'), () => {
				$('integrity-verify').disabled = false;
				$('integrity-verify').textContent = 'Start a full verify';
				if (current === 'integrity')
					loadIntegrity();
			}));
		$('retention-refresh').addEventListener('click', loadRetention);
		window.addEventListener('hashchange', () => { if (session.mode) route(); });
		for (const f of readyHooks)
			f();
		resume();
	});
	const readyHooks = [];

	/* ================================================ for the page modules */

	window.LS = {
		$, el, clear, say, describe, ApiError, request, getJSON, sendJSON, str, na, kv, ago,
		utc, listFrom, objectTable, eventRow, session, hasRole, addPage, parseHash,
		verifyStale, startVerify, waitVerify,
		onReady: (f) => readyHooks.push(f),
		onSignOut: (f) => signOutHooks.push(f),
	};
})();
