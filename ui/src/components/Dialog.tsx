// A modal dialog over the window: the focus is trapped in it (Tab and Shift+Tab go round its
// controls, a click or focus outside is pulled back), Esc closes it, and the focus returns to
// what had it before. What lies behind is made inert by the App while it is open.
import { useEffect, useRef, type ReactNode } from "react";

const FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";

function focusables(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>(FOCUSABLE)].filter((el) => !el.closest("[hidden], [inert]"));
}

export function Dialog({
  title,
  onClose,
  children,
  className = "",
  testid,
  describedBy,
}: {
  title: ReactNode;
  onClose: () => void;
  children: ReactNode;
  className?: string;
  testid?: string;
  describedBy?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const close = useRef(onClose);
  close.current = onClose;

  useEffect(() => {
    const before = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    const root = box.current;
    if (!root) return;
    // The first control, or the dialog itself (its heading is read first).
    root.focus();
    const onKey = (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        e.preventDefault();
        e.stopPropagation();
        close.current();
        return;
      }
      if (e.key !== "Tab") return;
      const all = focusables(root);
      if (all.length === 0) {
        e.preventDefault();
        root.focus();
        return;
      }
      // Moved by hand, both ways round, so it never reaches what lies behind.
      e.preventDefault();
      const i = all.indexOf(document.activeElement as HTMLElement);
      const next = e.shiftKey ? (i <= 0 ? all[all.length - 1] : all[i - 1]) : i === -1 || i === all.length - 1 ? all[0] : all[i + 1];
      next.focus();
    };
    // Focus that leaves the dialog (a click behind it) comes back.
    const onFocusIn = (e: FocusEvent) => {
      if (e.target instanceof Node && !root.contains(e.target)) root.focus();
    };
    document.addEventListener("keydown", onKey, true);
    document.addEventListener("focusin", onFocusIn);
    return () => {
      document.removeEventListener("keydown", onKey, true);
      document.removeEventListener("focusin", onFocusIn);
      if (before?.isConnected) before.focus();
    };
  }, []);

  return (
    <div className="dialog-backdrop">
      <div
        ref={box}
        role="dialog"
        aria-modal="true"
        aria-labelledby="dialog-title"
        aria-describedby={describedBy}
        tabIndex={-1}
        className={`dialog ${className}`}
        data-testid={testid}
      >
        <header className="dialog-header">
          <h2 id="dialog-title">{title}</h2>
          <button type="button" className="secondary dialog-close" onClick={onClose} aria-label="Close (Esc)">
            Close
          </button>
        </header>
        {children}
      </div>
    </div>
  );
}
