#!/usr/bin/env node
// Make Evidence 40.1.x (@evidence-dev/universal-sql 3.0.1 + @duckdb/duckdb-wasm 1.32.0) work with
// NO access to https://extensions.duckdb.org.
//
// Root cause: duckdb-wasm >= 1.29 does not link the parquet extension in; the first parquet
// read/write autoloads <repo>/v1.4.3/wasm_{eh,mvp}/parquet.duckdb_extension.wasm.
//  * Node (evidence sources / evidence build): the node-blocking bundle fetches it from a helper
//    worker_thread while the main thread sits in Atomics.wait() with no timeout. Offline the
//    worker's fetch() rejects, the worker dies without notifying, and the process blocks forever
//    (0% CPU, never exits). No env var or config setting avoids this.
//  * Browser: duckdb-wasm fetches it from extensions.duckdb.org; offline every query fails.
//
// Fix (3 edits, all idempotent, marker comments):
//  1. build-parquet.js: a source query with a single batch (< 1,000,000 rows) is already a
//     complete parquet file written by parquet-wasm -> copy it instead of letting duckdb-wasm
//     rewrite it with COPY ... (FORMAT PARQUET).
//  2. client-duckdb/node.js (build-time prerender): decode each parquet file with parquet-wasm
//     (already a dependency) to Arrow IPC and load it with insertArrowFromIPCStream() into a
//     TABLE "<source>"."<query>" instead of a VIEW over read_parquet().
//  3. client-duckdb/browser.js (the built site): same, fetching the parquet file over HTTP from
//     the site itself (base path respected) and decoding it with parquet-wasm's ESM build, whose
//     .wasm vite emits into _app/immutable/assets.
// Usage: node patches/evidence-offline.mjs [projectDir]   (npm install runs it: postinstall)
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(process.argv[2] ?? '.');
const usql = path.join(root, 'node_modules/@evidence-dev/universal-sql');
const pkg = JSON.parse(fs.readFileSync(path.join(usql, 'package.json'), 'utf8'));
if (pkg.version !== '3.0.1') {
	console.warn(`[evidence-offline] WARNING: tested with universal-sql 3.0.1, found ${pkg.version}`);
}
let failed = false;

function patch(rel, marker, edits) {
	const file = path.join(usql, rel);
	let src = fs.readFileSync(file, 'utf8');
	if (src.includes(marker)) {
		console.log(`[evidence-offline] already patched: ${rel}`);
		return;
	}
	for (const [from, to] of edits) {
		if (!src.includes(from)) {
			console.error(`[evidence-offline] anchor not found in ${rel}:\n${from}`);
			failed = true;
			return;
		}
		src = src.replace(from, to);
	}
	fs.writeFileSync(file, src);
	console.log(`[evidence-offline] patched: ${rel}`);
}

// 1. sources: skip the duckdb-wasm COPY merge for single-part outputs
patch('src/build-parquet.js', '/* evidence-offline:single-part */', [
	[
		'\tawait initDB();\n\n\tconst outputFilepath = path.join(outDir, outputFilename);',
		`\tconst outputFilepath = path.join(outDir, outputFilename);
\t/* evidence-offline:single-part */
\tif (tmpFilenames.length === 1) {
\t\tawait fs.mkdir(path.dirname(outputFilepath), { recursive: true });
\t\tawait fs.copyFile(tmpFilenames[0], outputFilepath);
\t\tawait fs.chmod(outputFilepath, 0o644);
\t\tawait fs.rm(tmpFilenames[0], { force: true });
\t\tfn_done();
\t\treturn rowCount;
\t}
\t// more than one part (>= batchSize rows): needs duckdb-wasm + parquet extension (online)
\tawait initDB();`
	]
]);

// 2. node client (used while prerendering during `evidence build`)
patch('src/client-duckdb/node.js', '/* evidence-offline:node */', [
	[
		"import { withTimeout } from './both.js';",
		`import { withTimeout } from './both.js';
/* evidence-offline:node */
import { readFileSync as __readFileSync } from 'fs';
import { readParquet as __readParquet } from 'parquet-wasm/node/arrow1.js';`
	],
	[
		`			db.registerFileURL(
				file_name,
				url.split(pathDelimiterRegex).join(path.sep),
				DuckDBDataProtocol.NODE_FS,
				false
			);
			connection.query(
				\`CREATE OR REPLACE VIEW "\${source}"."\${table}" AS (SELECT * FROM read_parquet('\${file_name}'));\`
			);`,
		`			// evidence-offline: no read_parquet (would autoload the parquet extension from the internet)
			const __ipc = __readParquet(
				new Uint8Array(__readFileSync(url.split(pathDelimiterRegex).join(path.sep)))
			).intoIPCStream();
			try { connection.query(\`DROP VIEW IF EXISTS "\${source}"."\${table}"\`); } catch (e) { /* it is a table */ }
			try { connection.query(\`DROP TABLE IF EXISTS "\${source}"."\${table}"\`); } catch (e) { /* it is a view */ }
			connection.insertArrowFromIPCStream(__ipc, { schema: source, name: table, create: true });`
	]
]);

// 3. browser client (the built static site)
patch('src/client-duckdb/browser.js', '/* evidence-offline:browser */', [
	[
		"export { tableFromIPC } from 'apache-arrow';",
		`export { tableFromIPC } from 'apache-arrow';
/* evidence-offline:browser */
import __initParquetWasm, { readParquet as __readParquet } from 'parquet-wasm/esm/arrow1.js';
import __parquetWasmUrl from 'parquet-wasm/esm/arrow1_bg.wasm?url';
let __parquetWasmReady;
const __ensureParquetWasm = () => (__parquetWasmReady ??= __initParquetWasm(__parquetWasmUrl));`
	],
	[
		`				await db.registerFileURL(file_name, addBasePath(path), DuckDBDataProtocol.HTTP, false);
				await connection.query(
					\`CREATE OR REPLACE VIEW "\${source}"."\${table}" AS (SELECT * FROM read_parquet('\${file_name}'));\`
				);`,
		`				// evidence-offline: no read_parquet (would fetch the parquet extension from extensions.duckdb.org)
				await __ensureParquetWasm();
				const __res = await fetch(addBasePath(path));
				if (!__res.ok) throw new Error(\`fetch \${path}: HTTP \${__res.status}\`);
				const __ipc = __readParquet(new Uint8Array(await __res.arrayBuffer())).intoIPCStream();
				await connection.query(\`DROP VIEW IF EXISTS "\${source}"."\${table}"\`).catch(() => {});
				await connection.query(\`DROP TABLE IF EXISTS "\${source}"."\${table}"\`).catch(() => {});
				await connection.insertArrowFromIPCStream(__ipc, { schema: source, name: table, create: true });`
	]
]);

if (failed) process.exit(1);
