// Builds the SDK: dist/seen.js (one ES module, no dependencies), dist/*.d.ts,
// and the demo's copy at web/static/seen.js; then the browser demo: web/src
// (type-checked under strict) bundled into web/static/app.js.
//   node build.mjs          build and copy
//   node build.mjs --check  build, and fail if web/static/seen.js or app.js differs (stale)
//   node build.mjs --dist   build dist/ only (npm pack's prepack: the package
//                           needs no web/ beside it, as in a bare copy of sdk/js)
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const staticCopy = join(here, "..", "..", "web", "static", "seen.js");
const check = process.argv.includes("--check");
const distOnly = process.argv.includes("--dist");

// Types first: tsc type-checks the sources and emits the declarations.
execFileSync(process.execPath, [join(here, "node_modules", "typescript", "bin", "tsc"), "-p", join(here, "tsconfig.json")], {
  stdio: "inherit",
});

const out = await build({
  entryPoints: [join(here, "src", "index.ts")],
  bundle: true,
  format: "esm",
  target: "es2020",
  platform: "neutral",
  write: false,
  legalComments: "none",
  banner: { js: "// @seen-im/sdk, built from sdk/js by `npm run build`. Do not edit: edit sdk/js/src." },
  outfile: join(here, "dist", "seen.js"),
});
const code = out.outputFiles[0].text;
mkdirSync(join(here, "dist"), { recursive: true });
writeFileSync(join(here, "dist", "seen.js"), code);

const rel = relative(process.cwd(), staticCopy) || staticCopy;
if (distOnly) {
  console.log(`built dist/seen.js and dist/*.d.ts (${code.length} bytes)`);
} else if (check) {
  const have = existsSync(staticCopy) ? readFileSync(staticCopy, "utf8") : "";
  if (have !== code) {
    console.error(`${rel} is stale: run \`npm run build\` in sdk/js and commit it`);
    process.exit(1);
  }
  console.log(`${rel} matches the fresh build (${code.length} bytes)`);
} else {
  writeFileSync(staticCopy, code);
  console.log(`built dist/seen.js and ${rel} (${code.length} bytes)`);
}

// The browser demo: web/src imports the SDK from its sources (one set of
// types), is type-checked by its own strict tsconfig and bundled into
// web/static/app.js, committed like seen.js so `go build` needs no npm.
// --dist builds the package alone: a bare copy of sdk/js has no web/.
if (distOnly) process.exit(0);
const web = join(here, "..", "..", "web");
const appFile = join(web, "static", "app.js");
execFileSync(process.execPath, [join(here, "node_modules", "typescript", "bin", "tsc"), "-p", join(web, "src", "tsconfig.json")], {
  stdio: "inherit",
});
const app = (
  await build({
    entryPoints: [join(web, "src", "main.ts")],
    absWorkingDir: here, // the path comments in the bundle do not depend on the caller's cwd
    bundle: true,
    format: "esm",
    target: "es2020",
    platform: "browser",
    write: false,
    legalComments: "none",
    banner: { js: "// The Seen browser demo, built from web/src by `npm run build` in sdk/js. Do not edit: edit web/src." },
    outfile: appFile,
  })
).outputFiles[0].text;
const appRel = relative(process.cwd(), appFile) || appFile;
if (!check) {
  writeFileSync(appFile, app);
  console.log(`built ${appRel} (${app.length} bytes)`);
} else if ((existsSync(appFile) ? readFileSync(appFile, "utf8") : "") !== app) {
  console.error(`${appRel} is stale: run \`npm run build\` in sdk/js and commit it`);
  process.exit(1);
} else {
  console.log(`${appRel} matches the fresh build (${app.length} bytes)`);
}
