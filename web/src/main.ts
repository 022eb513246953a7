// The Seen browser demo: a small chat app on the TypeScript SDK, imported
// from its sources (sdk/js/src) so the demo and the SDK share their types.
// sdk/js/build.mjs type-checks this directory and bundles it into
// web/static/app.js, which `seen serve` embeds.
//
// Modules, one per concern: state (the model), app (events and actions),
// conversations (the sidebar list), messages (the open chat), panel (receipt
// panel), join (join form and session), sidebar (new chat and group forms),
// dom (helpers). Views keep their DOM nodes by key and patch only what changed.
import { SeenClient } from "../../sdk/js/src/index.js";
import { DemoApp } from "./app.js";
import { byId } from "./dom.js";
import { forgetSession, initJoinForm, savedSession, showJoin } from "./join.js";
import type { DemoSession } from "./join.js";

// Page size of the member lists; ?pageSize=1 shows the "more" paging with few members.
const params = new URLSearchParams(location.search);
const PAGE_SIZE = Math.max(1, Math.min(100, Number(params.get("pageSize")) || 20));

async function start(s: DemoSession): Promise<void> {
  const url = `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/ws`;
  const app = new DemoApp(new SeenClient({ url, token: s.token }), s.userId, PAGE_SIZE);
  await app.start();
}

initJoinForm(start);
byId("logout").addEventListener("click", () => {
  forgetSession();
  location.reload();
});

const saved = savedSession();
if (saved) {
  start(saved).catch(() => {
    forgetSession();
    showJoin();
  });
}
