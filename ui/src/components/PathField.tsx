import { useId, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { FileKind } from "../files";

/** "Browse…": the native file dialog; the picked path goes to `onPicked` (nothing on cancel). */
export function BrowseButton({
  backend,
  kind,
  onPicked,
  label,
  testid,
  onError,
  children = "Browse…",
  className = "secondary browse",
}: {
  backend: Pick<Backend, "pickFile">;
  kind: FileKind;
  onPicked: (path: string) => void;
  /** What the button says: "Browse…" beside a field, what it does elsewhere ("Import a .env…"). */
  children?: string;
  className?: string;
  /** For screen readers, when "Browse…" alone would not say for which field. */
  label?: string;
  testid?: string;
  onError?: (message: string) => void;
}) {
  const [busy, setBusy] = useState(false);
  async function browse() {
    setBusy(true);
    try {
      const path = await backend.pickFile(kind);
      if (path) onPicked(path);
    } catch (e) {
      onError?.(`Could not open the file dialog: ${errorMessage(e)}`);
    } finally {
      setBusy(false);
    }
  }
  return (
    <button type="button" className={className} onClick={browse} disabled={busy} aria-label={label} data-testid={testid}>
      {children}
    </button>
  );
}

/** A path typed or picked with the native file dialog. */
export function PathField({
  backend,
  kind,
  label,
  value,
  onChange,
  onPicked,
  placeholder,
  testid,
  browseTestid,
  hint,
}: {
  backend: Pick<Backend, "pickFile">;
  kind: FileKind;
  label: string;
  value: string;
  onChange: (path: string) => void;
  /** After a path was picked in the dialog (it is also passed to `onChange` first). */
  onPicked?: (path: string) => void;
  placeholder?: string;
  testid?: string;
  browseTestid?: string;
  hint?: string;
}) {
  const id = useId();
  const [error, setError] = useState<string | null>(null);
  return (
    <div className="path-field">
      <label htmlFor={id}>{label}</label>
      <div className="path-row">
        <input
          id={id}
          className="mono"
          value={value}
          onChange={(e) => onChange(e.target.value)}
          placeholder={placeholder}
          spellCheck={false}
          autoComplete="off"
          data-testid={testid}
          aria-describedby={hint ? `${id}-hint` : undefined}
        />
        <BrowseButton
          backend={backend}
          kind={kind}
          label={`Browse for ${label.toLowerCase()}`}
          testid={browseTestid}
          onError={setError}
          onPicked={(path) => {
            setError(null);
            onChange(path);
            onPicked?.(path);
          }}
        />
      </div>
      {hint && (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      )}
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
