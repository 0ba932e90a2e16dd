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

// The lazily loaded modules (galaxy-wasm-split): split_<route>.wasm and chunk_<n>.wasm, each
// named by its own hash; the loader __wasm_split.js that fetches them by those names; the manifest
// (which modules each group needs; Leptos reads it, Galaxy links none of them as preloads —
// app/src/routes.rs), rewritten to the same names.
const lazy = {};
for (const name of fs.readdirSync(pkg).filter((n) => /^(split|chunk)_.*\.wasm$/.test(n)).sort()) {
  const stem = name.slice(0, -'.wasm'.length);
  const to = `${stem}.${hash(path.join(pkg, name))}`;
  fs.renameSync(path.join(pkg, name), path.join(pkg, `${to}.wasm`));
  lazy[stem] = to;
}
const loader = path.join(pkg, '__wasm_split.js');
const split = fs.existsSync(loader);
const rewrite = (file, from, to) => {
  const text = fs.readFileSync(file, 'utf8');
  if (!text.includes(from)) throw new Error(`${path.basename(file)} does not mention ${from}`);
  fs.writeFileSync(file, text.split(from).join(to));
};
if (split) {
  for (const [stem, to] of Object.entries(lazy)) rewrite(loader, `"./${stem}.wasm"`, `"./${to}.wasm"`);
}

// The glue and the loader import each other, so they share one name hash, taken over both (the
// loader already naming its modules by theirs) and the main module: any change renames both.
const names = {};
const css = hash(path.join(pkg, 'galaxy.css'));
const wasm = hash(path.join(pkg, 'galaxy_bg.wasm'));
const glue = createHash('sha256');
for (const file of ['galaxy.js', 'galaxy_bg.wasm', ...(split ? ['__wasm_split.js'] : [])]) {
  glue.update(fs.readFileSync(path.join(pkg, file)));
}
const js = glue.digest('hex').slice(0, 16);
if (split) {
  rewrite(path.join(pkg, 'galaxy.js'), `from "./__wasm_split.js"`, `from "./__wasm_split.${js}.js"`);
  rewrite(loader, `from "./galaxy.js"`, `from "./galaxy.${js}.js"`);
  fs.renameSync(loader, path.join(pkg, `__wasm_split.${js}.js`));
}
for (const [kind, from, h] of [['js', 'galaxy.js', js], ['wasm', 'galaxy_bg.wasm', wasm], ['css', 'galaxy.css', css]]) {
  const to = `galaxy.${h}.${kind}`;
  fs.renameSync(path.join(pkg, from), path.join(pkg, to));
  names[kind] = { hash: h, file: `/pkg/${to}` };
}
let lines = Object.entries(names).map(([k, v]) => `${k}: ${v.hash}`);
if (split) {
  const file = path.join(pkg, '__wasm_split_manifest.json');
  const manifest = JSON.parse(fs.readFileSync(file, 'utf8'));
  for (const key of Object.keys(manifest)) {
    manifest[key] = manifest[key].map((stem) => {
      if (!lazy[stem]) throw new Error(`the manifest names ${stem}, which was not written`);
      return lazy[stem];
    });
  }
  fs.writeFileSync(file, JSON.stringify(manifest));
  const m = hash(file);
  fs.renameSync(file, path.join(pkg, `__wasm_split_manifest.${m}.json`));
  lines.push(`split: ${js}`, `manifest: ${m}`);
}
fs.writeFileSync(path.join(site, 'hash.txt'), lines.join('\n') + '\n');

// The service worker: what it precaches, and this build's id — a hash of all of it, so any
// change is a new deployment.
const shell = [
  ...Object.values(names).map((n) => n.file),
  ...(split ? [`/pkg/__wasm_split.${js}.js`] : []),
  '/app.js', '/offline.html', '/offline.js', '/manifest.webmanifest',
  '/icon.svg', '/icon-192.png', '/icon-512.png', '/icon-maskable-512.png',
];
const all = createHash('sha256');
for (const file of shell) all.update(fs.readFileSync(path.join(site, file)));
const build = all.digest('hex').slice(0, 16);
const sw = path.join(site, 'sw.js');
fs.writeFileSync(sw, fs.readFileSync(sw, 'utf8')
  .replace('__GALAXY_BUILD__', build)
  .replace('"__GALAXY_SHELL__"', JSON.stringify(shell))
  .replace('"__GALAXY_LAZY__"', JSON.stringify(Object.values(lazy).map((to) => `/pkg/${to}.wasm`))));

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
