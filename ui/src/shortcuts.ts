// The window's keyboard shortcuts: one list, which the help overlay (`?`) shows and the
// handler below acts on. Typing in a field never triggers one.
import { useEffect, useRef } from "react";

export type Page = "dashboard" | "codes" | "history" | "credentials" | "settings" | "connections";

/** `g` then this key opens the page. */
export const GO_KEYS: Record<string, Page> = {
  d: "dashboard",
  c: "codes",
  h: "history",
  k: "credentials",
  s: "settings",
  n: "connections",
};

export interface Shortcut {
  /** Each key to press, in order ("g", "d"), or together when `together`. */
  keys: string[];
  together?: boolean;
  what: string;
}

export interface ShortcutGroup {
  title: string;
  shortcuts: Shortcut[];
}

const PAGE_NAME: Record<Page, string> = {
  dashboard: "Dashboard",
  codes: "Codes",
  history: "History",
  credentials: "Credentials (keys)",
  settings: "Settings",
  connections: "Connections",
};

/** Every shortcut the window has, for the help overlay. */
export const SHORTCUTS: ShortcutGroup[] = [
  {
    title: "Anywhere",
    shortcuts: [
      { keys: ["?"], what: "Show this list of shortcuts" },
      { keys: ["Esc"], what: "Close this list, the guided start or any dialog" },
      { keys: ["/"], what: "Search the Codes by recipient (opens the Codes page)" },
      ...Object.entries(GO_KEYS).map(([key, page]) => ({ keys: ["g", key], what: `Go to ${PAGE_NAME[page]}` })),
      { keys: ["Tab"], what: "Next control; Shift+Tab the previous one (the focused control is outlined)" },
      { keys: ["Enter"], what: "Press the focused button (Space too)" },
    ],
  },
  {
    title: "Codes page",
    shortcuts: [
      { keys: ["Tab"], what: "From the search to the list, then from one Copy button to the next, newest code first" },
      { keys: ["Enter"], what: "On a Copy button: copy that code" },
      { keys: ["↑", "↓", "PgUp", "PgDn"], what: "With the list focused: scroll it" },
    ],
  },
  {
    title: "Code entry (after a test send)",
    shortcuts: [
      { keys: ["Ctrl", "V"], together: true, what: "Paste a code, or a whole log line: every box is filled at once" },
      { keys: ["←", "→"], what: "Move between the digit boxes" },
      { keys: ["Backspace"], what: "In an empty box: clear the one before and go back to it" },
    ],
  },
];

/** The focus is where the operator types: a key there is text, not a shortcut. */
function typing(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable) return true;
  if (target instanceof HTMLTextAreaElement || target instanceof HTMLSelectElement) return true;
  if (target instanceof HTMLInputElement) return !["button", "checkbox", "radio", "submit", "reset"].includes(target.type);
  return false;
}

/** How long after `g` its second key is waited for. */
export const SEQUENCE_MS = 1500;

/**
 * Listens for the shortcuts on the whole window. `enabled` false (a dialog is open, which
 * handles its own keys) turns them off.
 */
export function useShortcuts({
  enabled,
  onHelp,
  onPage,
  onSearch,
}: {
  enabled: boolean;
  onHelp: () => void;
  onPage: (page: Page) => void;
  onSearch: () => void;
}) {
  const handlers = useRef({ onHelp, onPage, onSearch });
  handlers.current = { onHelp, onPage, onSearch };
  const pendingG = useRef(0);
  useEffect(() => {
    if (!enabled) return;
    const onKey = (e: KeyboardEvent) => {
      if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || typing(e.target)) return;
      const h = handlers.current;
      if (pendingG.current > Date.now()) {
        pendingG.current = 0;
        const page = GO_KEYS[e.key.toLowerCase()];
        if (page) {
          e.preventDefault();
          h.onPage(page);
          return;
        }
      }
      if (e.key === "?") {
        e.preventDefault();
        h.onHelp();
      } else if (e.key === "/") {
        e.preventDefault();
        h.onSearch();
      } else if (e.key === "g") {
        pendingG.current = Date.now() + SEQUENCE_MS;
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [enabled]);
}
