import type { ImportPreview } from "../bindings/ImportPreview";
import type { ImportReport } from "../bindings/ImportReport";

/** What importing a .env would store, masked: shown before anything is written. */
export function EnvPreviewList({ preview }: { preview: ImportPreview }) {
  return (
    <>
      <p>
        {preview.secrets.length} secret(s), {preview.settings.length} setting(s), {preview.unknown.length} unknown and {preview.malformed.length} malformed line(s) in {preview.file}
      </p>
      <ul>
        {preview.secrets.map((s) => (
          <li key={s.kind}>
            line {s.line}: {s.env_var} = <span className="mono">{s.masked}</span>
          </li>
        ))}
        {preview.malformed.map((m) => (
          <li key={m.line} className="form-error">
            line {m.line}: {m.reason}
          </li>
        ))}
        {(preview.expanded ?? [])
          .filter((x) => x.from_environment.length > 0)
          .map((x) => (
            <li key={`expanded-${x.line}`} className="form-error">
              line {x.line}: {x.name} needs {x.from_environment.map((v) => `\${${v}}`).join(", ")} from the backend's environment: not imported
            </li>
          ))}
      </ul>
    </>
  );
}

/** The words for a finished import, as the Credentials page and the guided start say them. */
export function importSummary(report: ImportReport): string {
  const kept = report.kept_existing.length > 0 ? `, ${report.kept_existing.length} kept as the keychain had them (another value there: rotate to replace it)` : "";
  return `Imported: ${report.stored.length} stored, ${report.unchanged.length} unchanged${kept}${report.rewritten ? `; .env rewritten without ${report.removed_lines.length} secret line(s)` : ""}.${report.rewrite_warning ? ` Warning: ${report.rewrite_warning}.` : ""}`;
}
