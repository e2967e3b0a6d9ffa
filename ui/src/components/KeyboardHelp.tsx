import { Fragment } from "react";
import { SHORTCUTS } from "../shortcuts";
import { Dialog } from "./Dialog";

/** Every keyboard shortcut of the window, opened with `?`. */
export function KeyboardHelp({ onClose }: { onClose: () => void }) {
  return (
    <Dialog title="Keyboard shortcuts" onClose={onClose} className="keyboard-help" testid="keyboard-help" describedBy="keyboard-help-hint">
      <p id="keyboard-help-hint" className="hint">
        Shortcuts work anywhere but in a text field. Press <kbd>Esc</kbd> to close this list.
      </p>
      {SHORTCUTS.map((group) => (
        <section key={group.title} aria-label={group.title}>
          <h3>{group.title}</h3>
          <dl className="shortcut-list">
            {group.shortcuts.map((s) => (
              <div key={`${s.keys.join(" ")}-${s.what}`} data-testid="shortcut">
                <dt>
                  {s.keys.map((k, i) => (
                    <Fragment key={i}>
                      {i > 0 && <span className="key-sep">{s.together ? "+" : s.keys.length === 2 && !s.together && s.keys[0] === "g" ? " then " : " "}</span>}
                      <kbd>{k}</kbd>
                    </Fragment>
                  ))}
                </dt>
                <dd>{s.what}</dd>
              </div>
            ))}
          </dl>
        </section>
      ))}
    </Dialog>
  );
}
