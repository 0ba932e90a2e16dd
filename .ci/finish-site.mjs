// Finishes a built site (run by build_site in .ci/lib.sh, with Node's own zlib — nothing is
// downloaded): gives the bundle's files content-hashed names (pkg/galaxy.<hash>.{js,wasm,css}),
// writes hash.txt (read by the server, which then links those names and serves /pkg/* as
// immutable), stamps the service worker with the build's id and its precache list, and
// pre-compresses every text and WASM file with brotli (quality 11) and gzip (level 9), served
// as they are by the server instead of compressing on the fly.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const site = process.argv[2];
const pkg = path.join(site, 'pkg');
const hash = (file) => createHash('sha256').update(fs.readFileSync(file)).digest('hex').slice(0, 16);

const names = {};
for (const [kind, from] of [['js', 'galaxy.js'], ['wasm', 'galaxy_bg.wasm'], ['css', 'galaxy.css']]) {
  const h = hash(path.join(pkg, from));
  const to = `galaxy.${h}.${kind}`;
  fs.renameSync(path.join(pkg, from), path.join(pkg, to));
  names[kind] = { hash: h, file: `/pkg/${to}` };
}
fs.writeFileSync(path.join(site, 'hash.txt'), Object.entries(names).map(([k, v]) => `${k}: ${v.hash}`).join('\n') + '\n');

// The service worker: what it precaches, and this build's id — a hash of all of it, so any
// change is a new deployment.
const shell = [
  ...Object.values(names).map((n) => n.file),
  '/app.js', '/offline.html', '/offline.js', '/manifest.webmanifest',
  '/icon.svg', '/icon-192.png', '/icon-512.png', '/icon-maskable-512.png',
];
const all = createHash('sha256');
for (const file of shell) all.update(fs.readFileSync(path.join(site, file)));
const build = all.digest('hex').slice(0, 16);
const sw = path.join(site, 'sw.js');
fs.writeFileSync(sw, fs.readFileSync(sw, 'utf8')
  .replace('__GALAXY_BUILD__', build)
  .replace('"__GALAXY_SHELL__"', JSON.stringify(shell)));

let raw = 0, br = 0, gz = 0;
for (const dir of [site, pkg]) {
  for (const name of fs.readdirSync(dir)) {
    if (!/\.(js|wasm|css|html|svg|webmanifest|json)$/.test(name)) continue;
    const file = path.join(dir, name);
    const body = fs.readFileSync(file);
    const b = zlib.brotliCompressSync(body, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: body.length,
        [zlib.constants.BROTLI_PARAM_LGWIN]: 24,
      },
    });
    const g = zlib.gzipSync(body, { level: 9 });
    fs.writeFileSync(`${file}.br`, b);
    fs.writeFileSync(`${file}.gz`, g);
    if (dir === pkg && /\.(js|wasm)$/.test(name)) { raw += body.length; br += b.length; gz += g.length; }
  }
}
console.log(`build ${build}: WASM + JS ${raw} B raw, ${br} B brotli, ${gz} B gzip`);
