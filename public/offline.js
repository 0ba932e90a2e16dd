// The offline page: the account's last copies of /agents and /runs, read from the service
// worker's cache, shown read-only (their tables only; links and forms do nothing offline).
(async () => {
  document.getElementById('retry').addEventListener('click', () => location.reload());
  const metaCache = await caches.open('galaxy-meta');
  const hit = await metaCache.match('/__meta/account');
  if (!hit) return;
  const account = await hit.text();
  const pages = await caches.open(`galaxy-pages-${account}`);
  for (const [path, id, selector] of [['/agents', 'agents', 'table.agents'], ['/runs', 'runs', 'table.runs']]) {
    const copy = await pages.match(path);
    if (!copy) continue;
    const doc = new DOMParser().parseFromString(await copy.text(), 'text/html');
    const table = doc.querySelector(selector);
    if (!table) continue;
    const section = document.getElementById(id);
    section.querySelector('p').textContent = `As of ${new Date(copy.headers.get('date') || Date.now()).toLocaleString()}.`;
    section.appendChild(document.importNode(table, true));
  }
})();
