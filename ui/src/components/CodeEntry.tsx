import { useRef, useState } from "react";
import { extractCode } from "../paste";

const LENGTH = 6;

/**
 * A 6-digit one-time-code entry. Pasting (or autofill) fills every box at once with the code in
 * the text, a whole log line included (see `extractCode`); typing advances; Backspace goes back;
 * arrows move. Six digits submit on their own; the "enter 6 digits" error shows only after an
 * explicit submit with fewer — never while a paste is being applied.
 */
export function CodeEntry({ onSubmit, label = "Verification code" }: { onSubmit: (code: string) => void; label?: string }) {
  const [digits, setDigits] = useState<string[]>(Array(LENGTH).fill(""));
  const [error, setError] = useState<string | null>(null);
  const boxes = useRef<(HTMLInputElement | null)[]>([]);

  function focus(i: number) {
    boxes.current[Math.max(0, Math.min(LENGTH - 1, i))]?.focus();
  }

  function commit(next: string[]) {
    setDigits(next);
    setError(null);
    if (next.every((d) => d !== "")) onSubmit(next.join(""));
  }

  function onPaste(e: React.ClipboardEvent) {
    const code = extractCode(e.clipboardData.getData("text"), LENGTH);
    e.preventDefault();
    if (code) {
      commit(code.split(""));
      focus(LENGTH - 1);
    }
  }

  function onChange(i: number, value: string) {
    const typed = value.replace(/\D/g, "");
    if (typed.length > 1) {
      // Autofill (autocomplete="one-time-code") puts the whole code in one box.
      const code = extractCode(value, LENGTH);
      if (code) {
        commit(code.split(""));
        focus(LENGTH - 1);
        return;
      }
    }
    const next = [...digits];
    next[i] = typed.slice(-1);
    commit(next);
    if (typed) focus(i + 1);
  }

  function onKeyDown(i: number, e: React.KeyboardEvent<HTMLInputElement>) {
    if (e.key === "Backspace" && digits[i] === "") {
      e.preventDefault();
      const next = [...digits];
      next[Math.max(0, i - 1)] = "";
      setDigits(next);
      focus(i - 1);
    } else if (e.key === "ArrowLeft") {
      e.preventDefault();
      focus(i - 1);
    } else if (e.key === "ArrowRight") {
      e.preventDefault();
      focus(i + 1);
    }
  }

  function submit(e: React.FormEvent) {
    e.preventDefault();
    if (digits.some((d) => d === "")) setError(`Please enter a ${LENGTH}-digit code`);
    else onSubmit(digits.join(""));
  }

  return (
    <form onSubmit={submit} className="code-entry" aria-label={label}>
      <fieldset>
        <legend>{label}</legend>
        {digits.map((d, i) => (
          <input
            key={i}
            ref={(el) => {
              boxes.current[i] = el;
            }}
            value={d}
            onChange={(e) => onChange(i, e.target.value)}
            onKeyDown={(e) => onKeyDown(i, e)}
            onPaste={onPaste}
            onFocus={(e) => e.target.select()}
            inputMode="numeric"
            autoComplete={i === 0 ? "one-time-code" : "off"}
            pattern="[0-9]*"
            maxLength={i === 0 ? LENGTH : 1}
            aria-label={`Digit ${i + 1} of ${LENGTH}`}
            className="code-box"
          />
        ))}
      </fieldset>
      <button type="submit">Check code</button>
      {error && (
        <p role="alert" className="form-error">
          {error}
        </p>
      )}
    </form>
  );
}
