// Galaxy's service worker (plain JavaScript; .ci/finish-site.mjs stamps the build id and the
// precache list at build time).
// - Precaches the app shell of this build: the main module and its glue under content-hashed
//   names, the CSS, the icons, the manifest and the offline page. Static files are served
//   cache-first. A page's own modules (lazily loaded routes, also content-hashed) are not
//   precached — a first visit downloads only what its page needs — but kept once fetched.
// - Pages are network-first; offline, a page load gets the offline page, which shows the last
//   agent list and runs list this account viewed (read-only copies of /agents and /runs, taken
//   when the page shows them, at most every ten seconds).
// - Those copies are keyed per account and dropped at log-out or when another account signs in;
//   server functions, the APIs, exports and anything else are never cached.
// - A new build installs and then waits: the page shows "a new version is available — reload",
//   and the new worker takes over only when the person asks (never in the middle of a run).
const BUILD = '__GALAXY_BUILD__';
const STAMPED = "__GALAXY_SHELL__";
const SHELL = Array.isArray(STAMPED) ? STAMPED : [];
const STAMPED_LAZY = "__GALAXY_LAZY__";
const LAZY = Array.isArray(STAMPED_LAZY) ? STAMPED_LAZY : [];
const STATIC = `galaxy-static-${BUILD}`;
const META = 'galaxy-meta';
const LISTS = ['/agents', '/runs'];
const KEEP_EVERY_MS = 10 * 1000;

self.addEventListener('install', (event) => {
  event.waitUntil(caches.open(STATIC).then((cache) => cache.addAll(SHELL)));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith('galaxy-static-') && name !== STATIC) await caches.delete(name);
    }
    await self.clients.claim();
  })());
});

async function meta(key, value) {
  const cache = await caches.open(META);
  if (value === undefined) {
    const hit = await cache.match(`/__meta/${key}`);
    return hit ? hit.text() : null;
  }
  await cache.put(`/__meta/${key}`, new Response(String(value)));
  return value;
}

async function forgetAccounts(except) {
  for (const name of await caches.keys()) {
    if (name.startsWith('galaxy-pages-') && name !== `galaxy-pages-${except}`) await caches.delete(name);
  }
}

/** A copy of one of the account's lists as it was just viewed, for the offline page. */
async function keep(account, path) {
  const last = Number(await meta(`kept-${account}-${path}`)) || 0;
  if (Date.now() - last < KEEP_EVERY_MS) return;
  await meta(`kept-${account}-${path}`, Date.now());
  try {
    const response = await fetch(path, { credentials: 'same-origin', redirect: 'manual' });
    if (response.ok && response.type === 'basic') {
      await (await caches.open(`galaxy-pages-${account}`)).put(path, response);
    }
  } catch (_) { /* offline: keep the last copy */ }
}

const ACCOUNT = /^[0-9a-f-]{36}$/;

self.addEventListener('message', (event) => {
  const data = event.data || {};
  if (data.type === 'skip-waiting') {
    self.skipWaiting();
  } else if ((data.type === 'account' || data.type === 'viewed') && ACCOUNT.test(data.account || '')) {
    event.waitUntil((async () => {
      await forgetAccounts(data.account);
      await meta('account', data.account);
      if (data.type === 'viewed' && LISTS.includes(data.path)) await keep(data.account, data.path);
    })());
  } else if (data.type === 'forget') {
    event.waitUntil((async () => {
      await forgetAccounts(null);
      await caches.delete(META);
    })());
  }
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.mode === 'navigate') {
    event.respondWith(fetch(request).catch(async () => (await caches.match('/offline.html', { cacheName: STATIC })) || Response.error()));
    return;
  }
  if (SHELL.includes(url.pathname)) {
    event.respondWith(caches.match(url.pathname, { cacheName: STATIC }).then((hit) => hit || fetch(request)));
  }
  if (LAZY.includes(url.pathname)) {
    // Kept once fetched (answered at once, stored in the background: the module compiles as it
    // streams in, and a full cache costs a copy, never the load). Only a 200 is kept.
    event.respondWith((async () => {
      const cache = await caches.open(STATIC);
      const hit = await cache.match(url.pathname);
      if (hit) return hit;
      const response = await fetch(request);
      if (response.status === 200) {
        event.waitUntil(cache.put(url.pathname, response.clone()).catch(() => {}));
      }
      return response;
    })());
  }
  // Everything else (server functions, /api/v1, /v1, exports, other files): the network, untouched.
});
