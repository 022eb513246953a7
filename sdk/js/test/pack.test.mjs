// The package as a user meets it: `npm pack` on a bare copy of sdk/js (no
// dist/, as a fresh clone has) must build itself, the tarball's main,
// exports and types must name files it holds, and a scratch project that
// installs it with `ws` must compile the documented Node setup
// (test/node-setup.ts) under strict and run it against a real server.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { SeenServer } from "./server.mjs";

const run = promisify(execFile);
const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const tsc = join(pkgDir, "node_modules", "typescript", "bin", "tsc");
const installed = (name) => JSON.parse(readFileSync(join(pkgDir, "node_modules", name, "package.json"), "utf8")).version;

/** The files of the package.json entry points, "./dist/x" -> "dist/x". */
function entryPoints(pkg) {
  const out = [pkg.main, pkg.types, pkg.module];
  const walk = (v) => (typeof v === "string" ? out.push(v) : v && Object.values(v).forEach(walk));
  walk(pkg.exports);
  return [...new Set(out.filter(Boolean).map((p) => p.replace(/^\.\//, "")))];
}

test("npm pack builds a package that installs and runs against seen serve", { timeout: 120_000 }, async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), "seen-pack-"));
  const server = new SeenServer();
  t.after(async () => {
    await server.destroy();
    rmSync(tmp, { recursive: true, force: true });
  });
  const serverUp = server.start();

  // A bare copy: what git tracks in sdk/js, without dist/.
  const bare = join(tmp, "sdk");
  for (const f of ["package.json", "package-lock.json", "build.mjs", "tsconfig.json", "LICENSE", "README.md", "src"]) {
    cpSync(join(pkgDir, f), join(bare, f), { recursive: true });
  }
  symlinkSync(join(pkgDir, "node_modules"), join(bare, "node_modules"), "dir");
  const packed = await run("npm", ["pack", "--json", "--pack-destination", tmp], { cwd: bare });
  // prepack's own output comes first; npm's JSON answer is the rest.
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("[")));
  const files = new Set(info.files.map((f) => f.path));
  const pkg = JSON.parse(readFileSync(join(bare, "package.json"), "utf8"));
  for (const entry of entryPoints(pkg)) {
    assert.ok(files.has(entry), `package.json names ${entry}, the tarball lacks it (has ${[...files].join(", ")})`);
  }
  for (const f of ["LICENSE", "dist/index.d.ts", "dist/types.d.ts", "dist/client.d.ts"]) {
    assert.ok(files.has(f), `the tarball lacks ${f}`);
  }

  // A scratch app: the tarball, ws and the type packages, from the npm cache
  // when it has them (npm ci of sdk/js put them there).
  const app = join(tmp, "app");
  cpSync(join(pkgDir, "test", "node-setup.ts"), join(app, "node-setup.ts"));
  cpSync(join(pkgDir, "test", "tsconfig.json"), join(app, "tsconfig.json"));
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "scratch", private: true, type: "module" }));
  await run(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      join(tmp, info.filename),
      `ws@${installed("ws")}`,
      `@types/ws@${installed("@types/ws")}`,
      `@types/node@${installed("@types/node")}`,
    ],
    { cwd: app },
  );
  await run(process.execPath, [tsc, "-p", "tsconfig.json", "--noEmit", "false", "--outDir", "out"], { cwd: app });

  await serverUp;
  const [a, b] = ["pack-a", "pack-b"].map((n) => `${n}-${process.pid}`);
  const env = { ...process.env, SEEN_WS_URL: server.wsURL, SEEN_TOKEN_A: await server.token(a), SEEN_TOKEN_B: await server.token(b) };
  const { stdout } = await run(process.execPath, [join("out", "node-setup.js")], { cwd: app, env, timeout: 30_000 });
  const got = JSON.parse(stdout.trim().split("\n").pop());
  assert.equal(got.from, a);
  assert.equal(got.received, got.sent);
  assert.equal(got.text, "hi from node");
});
