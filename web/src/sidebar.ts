// The sidebar's forms: start a peer chat, create a group, and the error line
// under them.
import type { Conversation } from "../../sdk/js/src/index.js";
import { byId } from "./dom.js";
import { ID_RE } from "./join.js";

export interface SidebarActions {
  me: string;
  open(c: Conversation): void;
  /** Creates the group; rejects with a message for the user. */
  createGroup(id: string, members: string[]): Promise<void>;
}

export function sideError(text: string): void {
  const e = byId("side-error");
  e.textContent = text;
  e.hidden = !text;
}

export function initSidebar(a: SidebarActions): void {
  const peer = byId<HTMLInputElement>("new-peer");
  byId("new-peer-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = peer.value.trim();
    sideError("");
    if (!ID_RE.test(name)) return sideError("A user name is 1-64 letters, digits or _ . @ -");
    if (name === a.me) return sideError("That is you: pick someone else.");
    peer.value = "";
    a.open({ type: "peer", id: name });
  });

  const groupId = byId<HTMLInputElement>("new-group-id");
  const groupMembers = byId<HTMLInputElement>("new-group-members");
  byId("new-group-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    sideError("");
    const id = groupId.value.trim();
    const members = groupMembers.value
      .split(/[\s,;]+/)
      .map((s) => s.trim())
      .filter((s) => s && s !== a.me);
    if (!ID_RE.test(id)) return sideError("A group name is 1-64 letters, digits or _ . @ -");
    if (!members.length || !members.every((m) => ID_RE.test(m))) return sideError("List members by user name, e.g. bob, carol");
    try {
      await a.createGroup(id, [...new Set(members)]);
    } catch (err) {
      return sideError(err instanceof Error ? err.message : String(err));
    }
    groupId.value = "";
    groupMembers.value = "";
    byId<HTMLDetailsElement>("new-group").open = false;
    a.open({ type: "group", id });
  });
}
