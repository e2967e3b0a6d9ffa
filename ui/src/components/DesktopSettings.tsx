// The Settings page's Desktop section: start at login, closing to the tray, and the global
// shortcut to the Codes search. Each applies on its own (no Save of the page): start at login
// is the system's login entry, the others `[desktop]` of the configuration file.
import { useEffect, useRef, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { DesktopSettings as DesktopValue } from "../bindings/DesktopSettings";

/** What the shortcut field offers when the shortcut is switched on. */
export const SUGGESTED_SHORTCUT = "CommandOrControl+Shift+K";
const CHECK_DEBOUNCE_MS = 200;

type DesktopBackend = Pick<Backend, "desktopSettings" | "checkGlobalShortcut" | "saveDesktopSettings" | "setStartAtLogin">;

export function DesktopSettings({ backend }: { backend: DesktopBackend }) {
  const [inForce, setInForce] = useState<DesktopValue | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  // The shortcut as typed, and whether it is wanted at all.
  const [shortcutOn, setShortcutOn] = useState(false);
  const [shortcut, setShortcut] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [checking, setChecking] = useState(false);
  const [busy, setBusy] = useState(false);
  const [said, setSaid] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  const show = (value: DesktopValue) => {
    setInForce(value);
    setShortcutOn(value.global_shortcut !== null);
    setShortcut(value.global_shortcut ?? "");
  };
  useEffect(() => {
    backend.desktopSettings().then(show, (e) => setLoadError(errorMessage(e)));
  }, [backend]);

  // The shortcut is checked by the backend (the rules it registers with) as it is typed.
  const latest = useRef(0);
  useEffect(() => {
    const ask = ++latest.current;
    if (!shortcutOn || shortcut.trim() === "") {
      setProblem(shortcutOn ? "Type a key combination, e.g. " + SUGGESTED_SHORTCUT : null);
      setChecking(false);
      return;
    }
    setChecking(true);
    const timer = setTimeout(() => {
      backend.checkGlobalShortcut(shortcut).then(
        (p) => {
          if (ask !== latest.current) return;
          setProblem(p);
          setChecking(false);
        },
        () => {
          if (ask !== latest.current) return;
          setProblem(null);
          setChecking(false);
        },
      );
    }, CHECK_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [backend, shortcut, shortcutOn]);

  if (loadError)
    return (
      <p className="form-error" role="alert">
        Could not read the desktop settings: {loadError}
      </p>
    );
  if (!inForce) return <p aria-busy="true">Loading the desktop settings…</p>;

  async function run(what: () => Promise<DesktopValue>, done: (v: DesktopValue) => string) {
    setBusy(true);
    setError(null);
    setSaid(null);
    try {
      const value = await what();
      show(value);
      setSaid(done(value));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }
  const current = inForce;
  const save = (close_to_tray: boolean, global_shortcut: string | null, done: (v: DesktopValue) => string) =>
    run(() => backend.saveDesktopSettings({ close_to_tray, global_shortcut }), done);

  const toggleShortcut = (on: boolean) => {
    setSaid(null);
    setError(null);
    if (on) {
      setShortcutOn(true);
      if (shortcut.trim() === "") setShortcut(SUGGESTED_SHORTCUT);
    } else if (current.global_shortcut !== null) {
      void save(current.close_to_tray, null, () => "Global shortcut off.");
    } else setShortcutOn(false);
  };
  const typed = shortcut.trim();
  const shortcutChanged = shortcutOn && typed !== (current.global_shortcut ?? "");
  const canSaveShortcut = shortcutChanged && typed !== "" && problem === null && !checking && !busy;
  const saveShortcut = () => {
    if (canSaveShortcut) void save(current.close_to_tray, typed, (v) => `${v.global_shortcut} now opens the Codes search.`);
  };

  return (
    <fieldset className="settings-section" data-testid="desktop-settings">
      <legend>Desktop</legend>
      <p className="hint">This computer&apos;s; each applies at once.</p>
      <label className="checkbox-line">
        <input
          type="checkbox"
          checked={current.start_at_login}
          disabled={busy}
          onChange={(e) => {
            const on = e.target.checked;
            void run(() => backend.setStartAtLogin(on), (v) => (v.start_at_login ? "msgops starts when you log in, in the tray." : "msgops no longer starts at login."));
          }}
          data-testid="start-at-login"
        />{" "}
        Start msgops when I log in (in the tray, the window hidden)
      </label>
      {current.start_at_login_problem && <p className="hint">Whether it does now could not be read: {current.start_at_login_problem}</p>}
      <label className="checkbox-line">
        <input
          type="checkbox"
          checked={current.close_to_tray}
          disabled={busy}
          onChange={(e) => {
            const on = e.target.checked;
            void save(on, current.global_shortcut, (v) =>
              v.close_to_tray ? "Closing the window now keeps msgops running in the tray." : "Closing the window now quits msgops.",
            );
          }}
          data-testid="close-to-tray"
        />{" "}
        Closing the window keeps msgops running in the tray (following the logs, notifying); Quit from the tray&apos;s menu
      </label>
      <label className="checkbox-line">
        <input type="checkbox" checked={shortcutOn} disabled={busy} onChange={(e) => toggleShortcut(e.target.checked)} data-testid="shortcut-on" /> A
        global shortcut brings the window up on the Codes search, from any application
      </label>
      {shortcutOn && (
        <div className="setting-field">
          <label htmlFor="desktop-shortcut">Global shortcut</label>
          <input
            id="desktop-shortcut"
            className="mono"
            value={shortcut}
            spellCheck={false}
            autoComplete="off"
            aria-invalid={problem !== null}
            aria-describedby={problem !== null ? "desktop-shortcut-problem" : "desktop-shortcut-hint"}
            onChange={(e) => {
              setShortcut(e.target.value);
              setSaid(null);
            }}
            onKeyDown={(e) => {
              // Enter saves the shortcut, not the page's form.
              if (e.key === "Enter") {
                e.preventDefault();
                saveShortcut();
              }
            }}
            data-testid="shortcut-input"
          />
          <p id="desktop-shortcut-hint" className="hint">
            Modifiers, then one key, joined by +: e.g. {SUGGESTED_SHORTCUT} (CommandOrControl is Ctrl here, ⌘ on a Mac).
          </p>
          {problem !== null && (
            <p id="desktop-shortcut-problem" className="field-problem field-error" data-testid="shortcut-problem">
              <span className="visually-hidden">Error: </span>
              {problem}
            </p>
          )}
          <div>
            <button type="button" onClick={saveShortcut} disabled={!canSaveShortcut} data-testid="shortcut-save">
              Save shortcut
            </button>
          </div>
        </div>
      )}
      <p aria-live="polite" className="muted" data-testid="desktop-status">
        {said}
      </p>
      {error && (
        <p className="form-error" role="alert" data-testid="desktop-error">
          Not changed: {error}
        </p>
      )}
    </fieldset>
  );
}
