// The one interface the UI talks to. The desktop app implements it over Tauri IPC; tests and
// the browser build implement it with fakes, so the same UI runs everywhere.
import type { AppStatus } from "../bindings/AppStatus";
import type { ChainEvent } from "../bindings/ChainEvent";
import type { DeliveryRates } from "../bindings/DeliveryRates";
import type { HealthSnapshot } from "../bindings/HealthSnapshot";
import type { IpcError } from "../bindings/IpcError";
import type { TestSendResult } from "../bindings/TestSendResult";
import type { TestSendRequest } from "../bindings/TestSendRequest";
import type { ApplyImportRequest } from "../bindings/ApplyImportRequest";
import type { CredentialAuditEntry } from "../bindings/CredentialAuditEntry";
import type { CredentialProvider } from "../bindings/CredentialProvider";
import type { CredentialStatus } from "../bindings/CredentialStatus";
import type { ImportPreview } from "../bindings/ImportPreview";
import type { ImportReport } from "../bindings/ImportReport";
import type { KeychainHealth } from "../bindings/KeychainHealth";
import type { LogEvent } from "../bindings/LogEvent";
import type { LogSnapshot } from "../bindings/LogSnapshot";
import type { RotateRequest } from "../bindings/RotateRequest";
import type { RotationReport } from "../bindings/RotationReport";
import type { SecretKind } from "../bindings/SecretKind";
import type { HistoryFilter } from "../bindings/HistoryFilter";
import type { HistoryPage } from "../bindings/HistoryPage";
import type { HistorySummary } from "../bindings/HistorySummary";
import type { ProviderTimelines } from "../bindings/ProviderTimelines";
import type { SavedSettings } from "../bindings/SavedSettings";
import type { Settings } from "../bindings/Settings";
import type { SettingsProblem } from "../bindings/SettingsProblem";
import type { Control } from "../bindings/Control";
import type { ControlOutcome } from "../bindings/ControlOutcome";
import type { OperationEntry } from "../bindings/OperationEntry";
import type { ProviderKind } from "../bindings/ProviderKind";
import type { AddConnection } from "../bindings/AddConnection";
import type { ConnectionsView } from "../bindings/ConnectionsView";
import type { DesktopDraft } from "../bindings/DesktopDraft";
import type { DesktopSettings } from "../bindings/DesktopSettings";
import type { OpenCodes } from "../bindings/OpenCodes";
import type { FileKind } from "../files";

/** Files dragged over the window: hovering, dropped (their paths), or taken away. */
export type FileDrop = { kind: "hover" } | { kind: "drop"; paths: string[] } | { kind: "cancel" };

export interface Backend {
  healthSnapshot(): Promise<HealthSnapshot>;
  sendTest(request: TestSendRequest): Promise<TestSendResult>;
  appStatus(): Promise<AppStatus>;
  /** Tells the app the first Dashboard is on screen (it logs the time since launch). */
  dashboardPainted?(): Promise<void>;
  /** Puts text on the system clipboard. */
  copyText(text: string): Promise<void>;
  setProviderEnabled(provider: string, enabled: boolean): Promise<HealthSnapshot>;
  /** On-call controls of one provider: reset its breaker, start its trial now, or probe it. */
  controlProvider(provider: ProviderKind, control: Control): Promise<ControlOutcome>;
  /** The newest on-call operations of every msgops process on this machine, newest first. */
  operationsAudit(): Promise<OperationEntry[]>;
  /** Calls `handler` for every chain event; resolves to an unsubscribe function. */
  onChainEvent(handler: (event: ChainEvent) => void): Promise<() => void>;
  /**
   * Calls `handler` whenever new delivery reports arrived (a provider told what became of
   * messages it accepted), with each provider's delivered share over the last hour; resolves
   * to an unsubscribe function.
   */
  onDeliveryReports(handler: (rates: DeliveryRates) => void): Promise<() => void>;

  logSnapshot(): Promise<LogSnapshot>;
  onLogEvent(handler: (event: LogEvent) => void): Promise<() => void>;
  /** The log watcher restarted on new settings: drop what was read; it is read again. */
  onLogReset(handler: () => void): Promise<() => void>;

  keychainHealth(): Promise<KeychainHealth>;
  credentialStatuses(): Promise<CredentialStatus[]>;
  previewEnvImport(path: string): Promise<ImportPreview>;
  applyEnvImport(request: ApplyImportRequest): Promise<ImportReport>;
  rotateCredentials(request: RotateRequest): Promise<RotationReport>;
  removeCredentials(provider: CredentialProvider): Promise<SecretKind[]>;
  credentialAudit(): Promise<CredentialAuditEntry[]>;

  /** Matching sends, newest first, one page of them, and how many matched in all. */
  sendHistory(filter: HistoryFilter): Promise<HistoryPage>;
  /** Totals, cost per provider per day and failover routes over the last `days` days (UTC). */
  historySummary(days: number): Promise<HistorySummary>;
  /** Each provider's states (CLOSED, OPEN, HALF_OPEN, DISABLED) over the last `hours` hours. */
  providerTimeline(hours: number): Promise<ProviderTimelines>;

  /** The operator settings in force, every default filled in. */
  getSettings(): Promise<Settings>;
  /** Every problem in a draft, field by field; errors block saving, warnings do not. */
  checkSettings(settings: Settings): Promise<SettingsProblem[]>;
  /** Rejects with a `Validation` error while the draft has errors. */
  saveSettings(settings: Settings): Promise<SavedSettings>;

  // Remote connections: the window on a `msgops serve` elsewhere. While one is active, the
  // health snapshot, the log snapshot, the on-call controls and their events are the remote
  // service's; test sends and enabling providers are refused; history, credentials and
  // settings stay this computer's.

  /** The saved connections, the one in use (null: this computer) and how it is doing. */
  connections(): Promise<ConnectionsView>;
  /**
   * The SHA-256 fingerprint of the certificate the service at `url` presents, read without
   * trusting it (nothing is sent to it); null for plain http on loopback, which has none.
   */
  connectionFingerprint(url: string): Promise<string | null>;
  /**
   * Checks the service (it answers, the pinned fingerprint matches, the token is accepted)
   * and saves the connection; the token is kept by the backend and never returned. Does not
   * switch to it. Rejects with the reason otherwise.
   */
  addConnection(request: AddConnection): Promise<ConnectionsView>;
  /** Forgets a connection and its token; the window returns to this computer if it was on it. */
  removeConnection(name: string): Promise<ConnectionsView>;
  /** Puts the window on a saved connection, or on this computer (null). */
  useConnection(name: string | null): Promise<ConnectionsView>;
  /**
   * Calls `handler` whenever the connection in use or its status changes; resolves to an
   * unsubscribe function.
   */
  onConnection(handler: (view: ConnectionsView) => void): Promise<() => void>;

  // Files: the window holds paths only; the backend reads the files.

  /**
   * Opens the native file dialog for one file (a backend's log, or its .env); resolves to its
   * path, or null when the operator cancels.
   */
  pickFile(kind: FileKind): Promise<string | null>;
  /** Calls `handler` as files are dragged over the window and dropped on it; resolves to an unsubscribe function. */
  onFileDrop(handler: (drop: FileDrop) => void): Promise<() => void>;

  // The desktop: closing to the tray, the global shortcut, starting at login (this computer's).

  /** `[desktop]` in force, and whether the login entry exists. */
  desktopSettings(): Promise<DesktopSettings>;
  /** What is wrong with a global shortcut as typed (`CommandOrControl+Shift+K`); null when none. */
  checkGlobalShortcut(shortcut: string): Promise<string | null>;
  /** Registers the shortcut and saves `[desktop]`; rejects with a `Validation` error when the shortcut cannot be. */
  saveDesktopSettings(draft: DesktopDraft): Promise<DesktopSettings>;
  /** Creates or removes the login entry. */
  setStartAtLogin(enabled: boolean): Promise<DesktopSettings>;
  /**
   * Calls `handler` when the window is to show the Codes page: on one code (its notification
   * was clicked) or on its search (the global shortcut); resolves to an unsubscribe function.
   */
  onOpenCodes(handler: (open: OpenCodes) => void): Promise<() => void>;
}

/** Errors from the backend always arrive as `{code, message}`. */
export function isIpcError(e: unknown): e is IpcError {
  return typeof e === "object" && e !== null && "code" in e && "message" in e;
}

export function errorMessage(e: unknown): string {
  if (isIpcError(e)) return e.message;
  if (e instanceof Error) return e.message;
  return String(e);
}
