import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import { getCurrentWebview } from "@tauri-apps/api/webview";
import { writeText } from "@tauri-apps/plugin-clipboard-manager";
import { open } from "@tauri-apps/plugin-dialog";
import type { Backend, FileDrop } from "./backend";
import type { FileKind } from "../files";
import type { ChainEvent } from "../bindings/ChainEvent";
import type { DeliveryRates } from "../bindings/DeliveryRates";
import type { LogEvent } from "../bindings/LogEvent";
import type { ConnectionsView } from "../bindings/ConnectionsView";
import type { OpenCodes } from "../bindings/OpenCodes";

/** Must match `CHAIN_EVENT` in src-tauri/lib.rs. */
export const CHAIN_EVENT = "msgops://chain";
/** Must match `DELIVERY_EVENT` in src-tauri/lib.rs. */
export const DELIVERY_EVENT = "msgops://delivery";
/** Must match `LOG_EVENT` in src-tauri/logs.rs. */
export const LOG_EVENT = "msgops://log";
/** Must match `LOG_RESET_EVENT` in src-tauri/logs.rs. */
export const LOG_RESET_EVENT = "msgops://log-reset";
/** Must match `CONNECTION_EVENT` in src-tauri/connections.rs. */
export const CONNECTION_EVENT = "msgops://connection";
/** Must match `OPEN_CODES_EVENT` in src-tauri/desktop.rs. */
export const OPEN_CODES_EVENT = "msgops://open-codes";

/**
 * The native dialog's title for each kind of file. No filter: a log rotated to `app.log.1`
 * and a `.env` have no extension to filter on.
 */
const PICK_TITLE: Record<FileKind, string> = {
  log: "Choose the backend's log",
  env: "Choose the backend's .env (Ctrl+H shows hidden files)",
};

export const tauriBackend: Backend = {
  healthSnapshot: () => invoke("health_snapshot"),
  sendTest: (request) => invoke("send_test", { request }),
  appStatus: () => invoke("app_status"),
  copyText: (text) => writeText(text),
  setProviderEnabled: (provider, enabled) => invoke("set_provider_enabled", { provider, enabled }),
  controlProvider: (provider, control) => invoke("control_provider", { provider, control }),
  operationsAudit: () => invoke("operations_audit"),
  onChainEvent: (handler) => listen<ChainEvent>(CHAIN_EVENT, (e) => handler(e.payload)),
  onDeliveryReports: (handler) => listen<DeliveryRates>(DELIVERY_EVENT, (e) => handler(e.payload)),
  logSnapshot: () => invoke("log_snapshot"),
  onLogEvent: (handler) => listen<LogEvent>(LOG_EVENT, (e) => handler(e.payload)),
  onLogReset: (handler) => listen(LOG_RESET_EVENT, () => handler()),
  keychainHealth: () => invoke("keychain_health"),
  credentialStatuses: () => invoke("credential_statuses"),
  previewEnvImport: (path) => invoke("preview_env_import", { path }),
  applyEnvImport: (request) => invoke("apply_env_import", { request }),
  rotateCredentials: (request) => invoke("rotate_credentials", { request }),
  removeCredentials: (provider) => invoke("remove_credentials", { provider }),
  credentialAudit: () => invoke("credential_audit"),
  sendHistory: (filter) => invoke("send_history", { filter }),
  historySummary: (days) => invoke("history_summary", { days }),
  dashboardPainted: () => invoke("dashboard_painted"),
  providerTimeline: (hours) => invoke("provider_timeline", { provider: null, hours }),
  getSettings: () => invoke("get_settings"),
  checkSettings: (settings) => invoke("check_settings", { settings }),
  saveSettings: (settings) => invoke("save_settings", { settings }),
  connections: () => invoke("connections"),
  connectionFingerprint: (url) => invoke("connection_fingerprint", { url }),
  addConnection: (request) => invoke("add_connection", { request }),
  removeConnection: (name) => invoke("remove_connection", { name }),
  useConnection: (name) => invoke("use_connection", { name }),
  onConnection: (handler) => listen<ConnectionsView>(CONNECTION_EVENT, (e) => handler(e.payload)),
  desktopSettings: () => invoke("desktop_settings"),
  checkGlobalShortcut: (shortcut) => invoke("check_global_shortcut", { shortcut }),
  saveDesktopSettings: (draft) => invoke("save_desktop_settings", { draft }),
  setStartAtLogin: (enabled) => invoke("set_start_at_login", { enabled }),
  onOpenCodes: (handler) => listen<OpenCodes>(OPEN_CODES_EVENT, (e) => handler(e.payload)),
  pickFile: (kind) => open({ title: PICK_TITLE[kind], multiple: false, directory: false }).then((p) => (typeof p === "string" ? p : null)),
  onFileDrop: (handler) =>
    getCurrentWebview().onDragDropEvent(({ payload }) => {
      const drop: FileDrop = payload.type === "drop" ? { kind: "drop", paths: payload.paths } : payload.type === "leave" ? { kind: "cancel" } : { kind: "hover" };
      handler(drop);
    }),
};
