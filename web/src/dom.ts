// Small DOM helpers. The views build each node once and then only patch what
// changed, so every setter here compares before it writes: an unchanged
// value costs no DOM mutation (and no layout, no lost selection or focus).

/** The element with this id in index.html; a missing one is a bug in the page. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`index.html has no #${id}`);
  return el as T;
}

interface Props {
  className?: string;
  testid?: string;
  text?: string;
  title?: string;
}

/** A new element with a class, a data-testid and text. */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: Node[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props.className) el.className = props.className;
  if (props.testid) el.dataset["testid"] = props.testid;
  if (props.text !== undefined) el.textContent = props.text;
  if (props.title) el.title = props.title;
  el.append(...children);
  return el;
}

/** A button that does not submit the form it may sit in. */
export function button(props: Props, onClick: () => void): HTMLButtonElement {
  const b = h("button", props);
  b.type = "button";
  b.addEventListener("click", onClick);
  return b;
}

export function setText(el: Node, text: string): void {
  if (el.textContent !== text) el.textContent = text;
}

export function setHidden(el: HTMLElement, hidden: boolean): void {
  if (el.hidden !== hidden) el.hidden = hidden;
}

export function setClass(el: Element, className: string): void {
  if (el.className !== className) el.className = className;
}

export function setData(el: HTMLElement, name: string, value: string): void {
  if (el.dataset[name] !== value) el.dataset[name] = value;
}

/**
 * Makes nodes the children of parent, in this order, moving only the nodes
 * that are out of place and removing the children that are not listed. Nodes
 * already in place are not touched, so the common case (one row changed, or
 * one appended) costs one DOM operation or none.
 */
export function placeChildren(parent: Element, nodes: readonly Node[]): void {
  let cursor = parent.firstChild;
  for (const n of nodes) {
    if (n === cursor) {
      cursor = cursor.nextSibling;
      continue;
    }
    parent.insertBefore(n, cursor);
  }
  while (cursor) {
    const next = cursor.nextSibling;
    parent.removeChild(cursor);
    cursor = next;
  }
}

const COLORS = ["#5b8def", "#e7864a", "#3fae7a", "#b765d8", "#d6546b", "#2fa6b5", "#c59a2b", "#6c7bd1"];

/** A colour picked from the name (stable across sessions) and its initial; "#" for a group. */
export function paintAvatar(el: HTMLElement, name: string, group = false): void {
  const of = (group ? "#" : "@") + name;
  if (el.dataset["avatarOf"] === of) return; // painted already: write nothing
  el.dataset["avatarOf"] = of;
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.charCodeAt(0)) >>> 0;
  el.style.background = COLORS[hash % COLORS.length] ?? COLORS[0]!;
  setText(el, group ? "#" : (name[0] ?? "?").toUpperCase());
  setClass(el, [...el.classList].filter((c) => c !== "group").concat(group ? ["group"] : []).join(" "));
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

/** The text of a message body: the demo sends {text}, other apps may send anything. */
export function bodyText(body: unknown): string {
  if (body && typeof body === "object" && typeof (body as { text?: unknown }).text === "string") {
    return (body as { text: string }).text;
  }
  return typeof body === "string" ? body : JSON.stringify(body);
}

let toastTimer: ReturnType<typeof setTimeout> | undefined;

/** A note at the bottom of the page for four seconds. */
export function toast(text: string): void {
  const t = byId("toast");
  t.textContent = text;
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => (t.hidden = true), 4000);
}
