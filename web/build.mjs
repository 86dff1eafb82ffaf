// Builds the tablet app into one directory the server serves (`--web-dir`):
//
//   node build.mjs [--out DIR] [--no-wasm-opt]
//
// - the wasm core from wasm-bindgen's output in web/pkg, shrunk with
//   binaryen's wasm-opt -Oz (installed by `npm ci`; the result is cached by the input's
//   hash, as -Oz takes a while);
// - src/app.ts and the modules it imports, with wasm-bindgen's glue, bundled and minified
//   by esbuild into one ES module;
// - style.css, index.html (pointing at the hashed names), the manifest and the icon;
// - src/sw.ts as the service worker, with the list of those files and a BUILD_ID hashed
//   from their contents, so every build caches under a new name and replaces the old.
//
// The JS and wasm files carry their content hash in their names, so a browser may keep
// them as long as it likes; index.html and sw.js are revalidated by the server.
// Type checking is `tsc` (`npm run check`); esbuild only strips the types.
// Prints what it shipped with raw and gzip sizes.

import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? path.resolve(args[i + 1]) : fallback;
};
const pkg = path.join(here, 'pkg');
const out = option('--out', path.join(here, '..', 'target', 'web'));
const wasmOpt = !args.includes('--no-wasm-opt');

const sha = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');
const gzip = (bytes) => zlib.gzipSync(bytes, { level: 9 }).length;
const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;

// --- The wasm core
const wasmIn = path.join(pkg, 'redfolder_wasm_bg.wasm');
if (!fs.existsSync(wasmIn)) {
  console.error(`build.mjs: ${wasmIn} is missing: build the wasm crate and run wasm-bindgen first (cargo xtask build)`);
  process.exit(1);
}
const wasmRaw = fs.readFileSync(wasmIn);
let wasm = wasmRaw;
if (wasmOpt) {
  const cacheDir = path.join(out, '..', 'wasm-opt-cache');
  const cached = path.join(cacheDir, `${sha(wasmRaw).slice(0, 16)}.wasm`);
  if (!fs.existsSync(cached)) {
    fs.mkdirSync(cacheDir, { recursive: true });
    for (const old of fs.readdirSync(cacheDir)) fs.rmSync(path.join(cacheDir, old));
    const started = Date.now();
    // The features are those rustc enables for wasm32-unknown-unknown; wasm-opt must
    // know them to read the module, and never adds one the module did not use.
    execFileSync(path.join(here, 'node_modules', '.bin', 'wasm-opt'), [
      '-Oz', '--strip-debug', '--strip-producers',
      '--enable-bulk-memory', '--enable-nontrapping-float-to-int', '--enable-sign-ext',
      '--enable-mutable-globals', '--enable-reference-types', '--enable-multivalue',
      wasmIn, '-o', `${cached}.tmp`,
    ], { stdio: 'inherit' });
    fs.renameSync(`${cached}.tmp`, cached);
    console.log(`wasm-opt -Oz took ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  wasm = fs.readFileSync(cached);
}

fs.rmSync(out, { recursive: true, force: true });
fs.mkdirSync(out, { recursive: true });
const shipped = []; // [name, bytes]
const emit = (name, contents) => {
  const bytes = Buffer.from(contents);
  fs.writeFileSync(path.join(out, name), bytes);
  shipped.push([name, bytes]);
};
const hashed = (stem, ext, bytes) => `${stem}-${sha(bytes).slice(0, 12)}.${ext}`;

const wasmFile = hashed('redfolder_wasm_bg', 'wasm', wasm);
emit(wasmFile, wasm);

// --- The app
const common = {
  bundle: true,
  minify: true,
  target: ['chrome110', 'safari16', 'firefox115'],
  legalComments: 'none',
  write: false,
  logLevel: 'warning',
};
const app = await esbuild.build({
  ...common,
  entryPoints: [path.join(here, 'src', 'app.ts')],
  format: 'esm',
  define: { WASM_FILE: JSON.stringify(wasmFile) },
});
const appJs = app.outputFiles[0].contents;
const appFile = hashed('app', 'js', appJs);
emit(appFile, appJs);

const css = fs.readFileSync(path.join(here, 'style.css'));
const cssFile = hashed('style', 'css', css);
emit(cssFile, css);

const html = fs.readFileSync(path.join(here, 'index.html'), 'utf8');
const page = html
  .replace('src="app.js"', `src="${appFile}"`)
  .replace('href="style.css"', `href="${cssFile}"`);
if (page === html || !page.includes(appFile) || !page.includes(cssFile)) {
  console.error('build.mjs: index.html must load app.js and style.css');
  process.exit(1);
}
emit('index.html', page);
for (const name of ['manifest.webmanifest', 'icon.svg']) emit(name, fs.readFileSync(path.join(here, name)));

// --- The service worker: caches exactly what was shipped, under a name of this build.
const buildId = sha(Buffer.concat(shipped.map(([name, bytes]) => Buffer.concat([Buffer.from(`${name}\0`), bytes, Buffer.from('\0')])))).slice(0, 16);
const sw = await esbuild.build({
  ...common,
  entryPoints: [path.join(here, 'src', 'sw.ts')],
  format: 'iife',
  define: { BUILD_ID: JSON.stringify(buildId), SHELL_FILES: JSON.stringify(shipped.map(([name]) => name)) },
});
emit('sw.js', sw.outputFiles[0].contents);

// --- Sizes
const rows = shipped.map(([name, bytes]) => [name, bytes.length, gzip(bytes)]);
const sum = (filter) => rows.filter(([name]) => filter(name)).reduce((a, [, raw, gz]) => [a[0] + raw, a[1] + gz], [0, 0]);
const width = Math.max(...rows.map(([name]) => name.length), 24);
console.log(`\nweb app built in ${path.relative(process.cwd(), out) || '.'} (build ${buildId})`);
console.log(`${'file'.padEnd(width)} ${'size'.padStart(11)} ${'gzip'.padStart(11)}`);
for (const [name, raw, gz] of rows) console.log(`${name.padEnd(width)} ${kib(raw).padStart(11)} ${kib(gz).padStart(11)}`);
const js = sum((n) => n.endsWith('.js'));
const wasmSize = sum((n) => n.endsWith('.wasm'));
const all = sum(() => true);
console.log(`${'JS (app + service worker)'.padEnd(width)} ${kib(js[0]).padStart(11)} ${kib(js[1]).padStart(11)}`);
console.log(`${'wasm'.padEnd(width)} ${kib(wasmSize[0]).padStart(11)} ${kib(wasmSize[1]).padStart(11)}`);
console.log(`${'JS + wasm'.padEnd(width)} ${kib(js[0] + wasmSize[0]).padStart(11)} ${kib(js[1] + wasmSize[1]).padStart(11)}`);
console.log(`${'everything shipped'.padEnd(width)} ${kib(all[0]).padStart(11)} ${kib(all[1]).padStart(11)}`);
console.log(`wasm before wasm-opt: ${kib(wasmRaw.length)}, gzip ${kib(gzip(wasmRaw))}${wasmOpt ? '' : ' (wasm-opt skipped)'}`);
const limit = 1024 * 1024;
if (wasmSize[1] >= limit) console.log(`WARNING: the wasm is ${kib(wasmSize[1])} gzipped, over the 1 MiB budget`);
