import { useEffect, useMemo, useRef, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { Channel } from "../bindings/Channel";
import type { Settings as SettingsValue } from "../bindings/Settings";
import type { SettingsProblem } from "../bindings/SettingsProblem";
import { CHANNEL_LABEL, localTitle } from "../format";
import type { FileRequest } from "../files";
import { BrowseButton } from "./PathField";
import { DesktopSettings } from "./DesktopSettings";
import {
  PROVIDER_NUMBERS,
  PROVIDER_NUMBER_LABEL,
  type LifetimeUnit,
  type ProviderForm,
  type ProviderNumber,
  type SettingsForm,
  codeLengthField,
  convertLifetime,
  fieldLabel,
  followField,
  fromForm,
  lifetimeField,
  lifetimeSeconds,
  patternField,
  providerField,
  timezoneField,
  toForm,
} from "./settingsForm";

/** How long the form waits for typing to pause before asking the backend what is wrong. */
export const CHECK_DEBOUNCE_MS = 150;

const idOf = (field: string) => `setting-${field.replace(/[^A-Za-z0-9_-]/g, "-")}`;
const problemIdOf = (field: string) => `${idOf(field)}-problem`;

/** The problems of one field, errors first. */
type Problems = Map<string, SettingsProblem[]>;

/** `aria-invalid` and `aria-describedby` for a field's input, pointing at its problem. */
function a11y(field: string, problems: Problems, hint?: string) {
  const own = problems.get(field) ?? [];
  const described = [own.length > 0 ? problemIdOf(field) : null, hint ?? null].filter(Boolean).join(" ");
  return {
    id: idOf(field),
    "aria-invalid": own.some((p) => p.severity === "error"),
    "aria-describedby": described || undefined,
  };
}

function FieldProblem({ field, problems }: { field: string; problems: Problems }) {
  const own = problems.get(field);
  if (!own || own.length === 0) return null;
  const severity = own.some((p) => p.severity === "error") ? "error" : "warning";
  return (
    <p id={problemIdOf(field)} className={`field-problem field-${severity}`} data-testid={`problem-${field}`}>
      <span className="visually-hidden">{severity === "error" ? "Error: " : "Warning: "}</span>
      {own.map((p) => p.message).join(" ")}
    </p>
  );
}

/** Rows of text (log files, patterns) the operator can add to and remove from. */
function RowList({
  items,
  noun,
  fieldOf,
  problems,
  placeholder,
  hint,
  onChange,
  browse,
}: {
  items: string[];
  noun: string;
  fieldOf: (i: number) => string;
  problems: Problems;
  placeholder: string;
  hint?: string;
  onChange: (items: string[]) => void;
  /** Rows that are paths: each gets a "Browse…" button opening the native file dialog. */
  browse?: Pick<Backend, "pickFile">;
}) {
  const [added, setAdded] = useState<number | null>(null);
  return (
    <div className="row-list">
      {items.length === 0 && <p className="muted">None.</p>}
      <ol>
        {items.map((value, i) => {
          const field = fieldOf(i);
          const label = `${noun} ${i + 1}`;
          return (
            <li key={i}>
              <div className="row-list-row">
                <input
                  {...a11y(field, problems, hint)}
                  aria-label={label}
                  className="mono"
                  value={value}
                  placeholder={placeholder}
                  spellCheck={false}
                  autoFocus={i === added}
                  onChange={(e) => onChange(items.map((v, j) => (j === i ? e.target.value : v)))}
                />
                {browse && (
                  <BrowseButton
                    backend={browse}
                    kind="log"
                    label={`Browse for ${label.toLowerCase()}`}
                    testid={`browse-${field}`}
                    onPicked={(path) => onChange(items.map((v, j) => (j === i ? path : v)))}
                  />
                )}
                <button type="button" className="secondary" aria-label={`Remove ${label.toLowerCase()}`} onClick={() => onChange(items.filter((_, j) => j !== i))}>
                  Remove
                </button>
              </div>
              <FieldProblem field={field} problems={problems} />
            </li>
          );
        })}
      </ol>
      <button
        type="button"
        className="secondary"
        onClick={() => {
          setAdded(items.length);
          onChange([...items, ""]);
        }}
      >
        Add {noun.toLowerCase()}
      </button>
    </div>
  );
}

function BackendLogs({
  form,
  problems,
  update,
  backend,
}: {
  form: SettingsForm;
  problems: Problems;
  update: (f: Partial<SettingsForm>) => void;
  backend: Pick<Backend, "pickFile">;
}) {
  const secs = lifetimeSeconds(form);
  return (
    <fieldset className="settings-section">
      <legend>Backend logs</legend>
      <h3 className="settings-sub">Files to follow</h3>
      <RowList
        items={form.follow}
        noun="Log file"
        fieldOf={followField}
        problems={problems}
        placeholder="/var/log/app/backend.log"
        onChange={(follow) => update({ follow })}
        browse={backend}
      />
      <p className="hint">Or drop a log file on the window: it is added here, to save.</p>
      <div className="lifetime">
        <label htmlFor={idOf(lifetimeField)}>Code lifetime</label>
        <div className="lifetime-inputs">
          <input
            {...a11y(lifetimeField, problems, "lifetime-hint")}
            inputMode="decimal"
            value={form.lifetime}
            onChange={(e) => update({ lifetime: e.target.value })}
          />
          <select
            aria-label="Code lifetime unit"
            value={form.unit}
            onChange={(e) => {
              const unit = e.target.value as LifetimeUnit;
              update({ unit, lifetime: convertLifetime(form.lifetime, form.unit, unit) });
            }}
          >
            <option value="minutes">minutes</option>
            <option value="seconds">seconds</option>
          </select>
        </div>
        <p id="lifetime-hint" className="hint">
          How long a code read from a log stays usable{secs !== null && form.unit === "minutes" ? ` (${secs} seconds)` : ""}.
        </p>
        <FieldProblem field={lifetimeField} problems={problems} />
      </div>
      <div className="setting-field">
        <label htmlFor={idOf(timezoneField)}>Log time zone</label>
        <input
          {...a11y(timezoneField, problems, "timezone-hint")}
          className="mono"
          value={form.timezone}
          spellCheck={false}
          autoComplete="off"
          onChange={(e) => update({ timezone: e.target.value })}
        />
        <p id="timezone-hint" className="hint">
          The zone the backend writes its log times in: auto, local, UTC or an IANA name like America/Toronto. With auto, each file&apos;s
          zone is inferred from its newest time and when it was last written.
        </p>
        <FieldProblem field={timezoneField} problems={problems} />
      </div>
      <div className="setting-field">
        <label htmlFor={idOf(codeLengthField)}>Code length</label>
        <input
          {...a11y(codeLengthField, problems, "code-length-hint")}
          type="number"
          inputMode="numeric"
          min={4}
          max={10}
          step={1}
          value={form.codeLength}
          onChange={(e) => update({ codeLength: e.target.value })}
        />
        <p id="code-length-hint" className="hint">
          Digits in a one-time code, as the backend makes them (4 to 10; the backend&apos;s default is 6).
        </p>
        <FieldProblem field={codeLengthField} problems={problems} />
      </div>
      <h3 className="settings-sub">Custom code patterns</h3>
      <p id="pattern-hint" className="hint">
        Regular expressions for log lines the built-in patterns miss. Each needs a named group <code>(?P&lt;code&gt;...)</code>{" "}
        around the code, e.g. <code>OTP (?P&lt;code&gt;\d{"{6}"})</code>; it may also name <code>recipient</code> and <code>ts</code>.
      </p>
      <RowList
        items={form.patterns}
        noun="Code pattern"
        fieldOf={patternField}
        problems={problems}
        placeholder="OTP (?P<code>\d{6})"
        hint="pattern-hint"
        onChange={(patterns) => update({ patterns })}
      />
    </fieldset>
  );
}

const COLUMN: Record<ProviderNumber, { title: string; hint?: string; inputMode: "numeric" | "decimal" }> = {
  failure_threshold: { title: "Failure threshold", hint: "0 = never opens", inputMode: "numeric" },
  open_secs: { title: "Cool-down (seconds)", inputMode: "numeric" },
  rate_per_second: { title: "Rate per second", hint: "0 = unlimited", inputMode: "decimal" },
  cost_usd: { title: "Cost per message (USD)", inputMode: "decimal" },
};

function ChainTable({
  channel,
  providers,
  problems,
  onChange,
}: {
  channel: Channel;
  providers: ProviderForm[];
  problems: Problems;
  onChange: (id: string, n: ProviderNumber, text: string) => void;
}) {
  return (
    <table className="data-table settings-table">
      <caption>{CHANNEL_LABEL[channel]} chain, in priority order</caption>
      <thead>
        <tr>
          <th scope="col">Provider</th>
          {PROVIDER_NUMBERS.map((n) => (
            <th scope="col" key={n}>
              {COLUMN[n].title}
              {COLUMN[n].hint && <span className="hint"> {COLUMN[n].hint}</span>}
            </th>
          ))}
        </tr>
      </thead>
      <tbody>
        {providers.map((p) => (
          <tr key={p.id}>
            <th scope="row">{p.display_name}</th>
            {PROVIDER_NUMBERS.map((n) => {
              const field = providerField(p.id, n);
              return (
                <td key={n}>
                  <input
                    {...a11y(field, problems)}
                    aria-label={`${p.display_name} ${PROVIDER_NUMBER_LABEL[n]}`}
                    inputMode={COLUMN[n].inputMode}
                    className="num"
                    value={p.numbers[n]}
                    onChange={(e) => onChange(p.id, n, e.target.value)}
                  />
                  <FieldProblem field={field} problems={problems} />
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Problems the form has no field for (a provider it does not know, a row since removed). */
function OtherProblems({ problems, shown, settings }: { problems: SettingsProblem[]; shown: Set<string>; settings: SettingsValue }) {
  const other = problems.filter((p) => !shown.has(p.field));
  if (other.length === 0) return null;
  return (
    <ul className="other-problems">
      {other.map((p, i) => (
        <li key={i} className={`field-${p.severity}`}>
          {fieldLabel(p.field, settings)}: {p.message}
        </li>
      ))}
    </ul>
  );
}

function shownFields(form: SettingsForm): Set<string> {
  return new Set([
    lifetimeField,
    timezoneField,
    codeLengthField,
    ...form.follow.map((_, i) => followField(i)),
    ...form.patterns.map((_, i) => patternField(i)),
    ...form.providers.flatMap((p) => PROVIDER_NUMBERS.map((n) => providerField(p.id, n))),
  ]);
}

/** The browser's own findings win over the backend's for the same field. */
function mergeProblems(client: SettingsProblem[], server: SettingsProblem[]): SettingsProblem[] {
  const clientFields = new Set(client.map((p) => p.field));
  const all = [...client, ...server.filter((p) => !clientFields.has(p.field))];
  return all.sort((a, b) => (a.severity === b.severity ? 0 : a.severity === "error" ? -1 : 1));
}

/** Checks a draft with the backend as the operator types; answers to older drafts are dropped. */
function useBackendCheck(backend: Backend, draft: SettingsValue | null) {
  const [problems, setProblems] = useState<SettingsProblem[]>([]);
  const [checking, setChecking] = useState(false);
  const latest = useRef(0);
  useEffect(() => {
    if (!draft) return;
    const ask = ++latest.current;
    setChecking(true);
    const timer = setTimeout(() => {
      backend.checkSettings(draft).then(
        (p) => {
          if (ask !== latest.current) return;
          setProblems(p);
          setChecking(false);
        },
        () => {
          // Saving checks again and says why it refuses; nothing to show here.
          if (ask !== latest.current) return;
          setProblems([]);
          setChecking(false);
        },
      );
    }, CHECK_DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [backend, draft]);
  return { problems, checking };
}

/**
 * The operator's settings: followed logs, code lifetime and patterns, provider policies.
 * `onSaved` runs once new settings are in force (the dashboard's thresholds and rates change).
 */
export function Settings({
  backend,
  configPath,
  onSaved,
  remote = false,
  addFollow,
  onShowGuide,
}: {
  backend: Backend;
  configPath?: string;
  onSaved?: () => void;
  /** A log handed over (dropped on the window): added to the files to follow, to save. */
  addFollow?: FileRequest | null;
  /** Opens the guided start again. */
  onShowGuide?: () => void;
  /** The window is on a remote service: the heading says these settings are this computer's. */
  remote?: boolean;
}) {
  const [inForce, setInForce] = useState<SettingsValue | null>(null);
  const [form, setForm] = useState<SettingsForm | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [saving, setSaving] = useState(false);
  const [saved, setSaved] = useState<SettingsProblem[] | null>(null);
  const [saveError, setSaveError] = useState<string | null>(null);

  useEffect(() => {
    backend.getSettings().then(
      (s) => {
        setInForce(s);
        setForm(toForm(s));
      },
      (e) => setLoadError(errorMessage(e)),
    );
  }, [backend]);

  // A handed-over log joins the draft once the form is there (once per hand-over).
  const addedFollow = useRef(0);
  useEffect(() => {
    if (!addFollow || !form || addedFollow.current === addFollow.n) return;
    addedFollow.current = addFollow.n;
    if (!form.follow.includes(addFollow.path)) {
      setForm({ ...form, follow: [...form.follow.filter((f) => f.trim() !== ""), addFollow.path] });
      setSaved(null);
    }
  }, [addFollow, form]);

  const parsed = useMemo(() => (form && inForce ? fromForm(form, inForce) : null), [form, inForce]);
  const server = useBackendCheck(backend, parsed?.draft ?? null);

  if (loadError)
    return (
      <p className="form-error" role="alert">
        Could not load the settings: {loadError}
      </p>
    );
  if (!form || !inForce || !parsed) return <p aria-busy="true">Loading settings…</p>;

  const all = mergeProblems(parsed.problems, server.problems);
  const problems: Problems = new Map();
  for (const p of all) problems.set(p.field, [...(problems.get(p.field) ?? []), p]);
  const errors = all.filter((p) => p.severity === "error").length;
  const changed = JSON.stringify(parsed.draft) !== JSON.stringify(inForce);
  const edited = JSON.stringify(form) !== JSON.stringify(toForm(inForce));
  const canSave = changed && errors === 0 && !server.checking && !saving;

  const update = (f: Partial<SettingsForm>) => {
    setForm({ ...form, ...f });
    setSaved(null);
  };
  const setNumber = (id: string, n: ProviderNumber, text: string) =>
    update({ providers: form.providers.map((p) => (p.id === id ? { ...p, numbers: { ...p.numbers, [n]: text } } : p)) });

  async function save(e: React.FormEvent) {
    e.preventDefault();
    if (!canSave || !parsed) return;
    setSaving(true);
    setSaveError(null);
    setSaved(null);
    try {
      const result = await backend.saveSettings(parsed.draft);
      setInForce(result.settings);
      setForm(toForm(result.settings));
      setSaved(result.warnings);
      onSaved?.();
    } catch (err) {
      setSaveError(errorMessage(err));
    } finally {
      setSaving(false);
    }
  }

  function discard() {
    if (!inForce) return;
    setForm(toForm(inForce));
    setSaveError(null);
    setSaved(null);
  }

  const status = saving
    ? "Saving…"
    : errors > 0
      ? `Fix ${errors === 1 ? "the error" : `${errors} errors`} marked above to save.`
      : server.checking
        ? "Checking…"
        : !changed
          ? "No changes to save."
          : "";
  const channels: Channel[] = ["sms", "email"];

  return (
    <form className="settings" onSubmit={save} noValidate aria-labelledby="settings-title">
      <h2 id="settings-title">{localTitle("Settings", remote)}</h2>
      {onShowGuide && (
        <p className="settings-guide">
          New to msgops, or setting up another backend?{" "}
          <button type="button" className="secondary" onClick={onShowGuide} data-testid="show-guided-start">
            Show the guided start
          </button>
        </p>
      )}
      <BackendLogs form={form} problems={problems} update={update} backend={backend} />
      <fieldset className="settings-section">
        <legend>Providers</legend>
        <p className="hint">
          The values in force, defaults included. A breaker opens after the failure threshold of consecutive failures and stays open for
          the cool-down before a trial send.
        </p>
        {channels.map((c) => (
          <ChainTable key={c} channel={c} providers={form.providers.filter((p) => p.channel === c)} problems={problems} onChange={setNumber} />
        ))}
      </fieldset>
      <DesktopSettings backend={backend} />
      <OtherProblems problems={all} shown={shownFields(form)} settings={inForce} />
      <div className="save-bar">
        <button type="submit" disabled={!canSave} aria-describedby="save-status">
          {saving ? "Saving…" : "Save"}
        </button>
        <button type="button" className="secondary" disabled={!edited || saving} onClick={discard}>
          Discard changes
        </button>
        <span id="save-status" className="muted">
          {status}
        </span>
      </div>
      {saveError && (
        <p className="form-error" role="alert">
          Not saved: {saveError}
        </p>
      )}
      {saved && (
        <div className="banner-ok save-notice" role="status">
          <p>Saved to {configPath ? <span className="mono">{configPath}</span> : "the configuration file"}.</p>
          {saved.length > 0 && (
            <ul>
              {saved.map((w, i) => (
                <li key={i}>
                  {fieldLabel(w.field, inForce)}: {w.message}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </form>
  );
}
