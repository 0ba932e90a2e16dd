// Registers the service worker (public/sw.js) and tells it whose pages it may keep: the account
// the page is for (data-account on the header), or none after a log-out. When a new build's
// worker is waiting, shows "a new version is available" with a Reload button; the new version
// takes over only then.
(() => {
  if (!('serviceWorker' in navigator)) return;
  let asked = false;
  let reloading = false;
  const account = () => document.querySelector('[data-account]')?.getAttribute('data-account') || null;

  function offerReload(worker) {
    if (document.getElementById('update-banner')) return;
    const banner = document.createElement('div');
    banner.id = 'update-banner';
    banner.className = 'banner update';
    banner.setAttribute('role', 'status');
    banner.textContent = 'A new version of Galaxy is available. ';
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Reload';
    button.addEventListener('click', () => {
      asked = true;
      worker.postMessage({ type: 'skip-waiting' });
    });
    banner.appendChild(button);
    document.body.appendChild(banner);
  }

  navigator.serviceWorker.register('/sw.js').then((registration) => {
    const tell = () => {
      const id = account();
      const to = registration.active || navigator.serviceWorker.controller;
      if (id && to) to.postMessage({ type: 'account', account: id });
    };
    navigator.serviceWorker.ready.then(tell);
    // The lists the offline page shows are the ones last viewed: say when one is on screen
    // (client-side navigation included: the path is watched).
    let shown = null;
    const watch = () => {
      const path = location.pathname;
      if (path === shown) return;
      shown = path;
      const id = account();
      if (id && (path === '/agents' || path === '/runs')) {
        navigator.serviceWorker.ready.then((r) => r.active?.postMessage({ type: 'viewed', account: id, path }));
      }
    };
    watch();
    setInterval(watch, 1000);
    if (registration.waiting && navigator.serviceWorker.controller) offerReload(registration.waiting);
    registration.addEventListener('updatefound', () => {
      const incoming = registration.installing;
      if (!incoming) return;
      incoming.addEventListener('statechange', () => {
        if (incoming.state === 'installed' && navigator.serviceWorker.controller) offerReload(incoming);
      });
    });
    // Check for a new deployment now and then, and when the tab comes back.
    setInterval(() => registration.update().catch(() => {}), 30 * 60 * 1000);
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') registration.update().catch(() => {});
    });
  }).catch(() => {});

  // Only a takeover the person asked for reloads the page (the first worker also takes control
  // when it activates, and that must not reload a page someone is typing into).
  navigator.serviceWorker.addEventListener('controllerchange', () => {
    if (!asked || reloading) return;
    reloading = true;
    location.reload();
  });

  // Log-out (with or without the WASM): the account's copies go first.
  document.addEventListener('submit', (event) => {
    const action = event.target?.getAttribute?.('action') || '';
    if (action.endsWith('/api/log_out') || action.endsWith('/api/sign_out_everywhere')) {
      navigator.serviceWorker.controller?.postMessage({ type: 'forget' });
    }
  }, true);
})();
