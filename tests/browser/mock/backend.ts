// A fake msgops backend behind the real Tauri IPC API, injected into the page before the app
// loads (harness.mjs bundles this file into an IIFE). The UI runs unchanged: it calls
// `invoke` and `listen` from @tauri-apps/api, and @tauri-apps/api/mocks routes them here.
//
// Every command is one entry of `handlers`; a command without one is rejected the way the
// backend rejects errors ({code, message}) and recorded in `unmocked`, which the tests check.
import { emit } from "@tauri-apps/api/event";
import type { Control } from "../../../ui/src/bindings/Control";
import type { ControlOutcome } from "../../../ui/src/bindings/ControlOutcome";
import type { OperationEntry } from "../../../ui/src/bindings/OperationEntry";
import type { ProviderKind } from "../../../ui/src/bindings/ProviderKind";
import type { Transition } from "../../../ui/src/bindings/Transition";
import { mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { CHAIN_EVENT, CONNECTION_EVENT, DELIVERY_EVENT, LOG_EVENT, LOG_RESET_EVENT, OPEN_CODES_EVENT } from "../../../ui/src/api/tauri";
import type { DesktopDraft } from "../../../ui/src/bindings/DesktopDraft";
import type { DesktopSettings } from "../../../ui/src/bindings/DesktopSettings";
import type { OpenCodes } from "../../../ui/src/bindings/OpenCodes";
import type { AddConnection } from "../../../ui/src/bindings/AddConnection";
import type { ConnectionInfo } from "../../../ui/src/bindings/ConnectionInfo";
import type { ConnectionsView } from "../../../ui/src/bindings/ConnectionsView";
import type { RemoteStatus } from "../../../ui/src/bindings/RemoteStatus";
import type { ApplyImportRequest } from "../../../ui/src/bindings/ApplyImportRequest";
import type { Attempt } from "../../../ui/src/bindings/Attempt";
import type { ChainEvent } from "../../../ui/src/bindings/ChainEvent";
import type { CredentialAuditEntry } from "../../../ui/src/bindings/CredentialAuditEntry";
import type { CredentialProvider } from "../../../ui/src/bindings/CredentialProvider";
import type { CredentialStatus } from "../../../ui/src/bindings/CredentialStatus";
import type { DeliveryEvent } from "../../../ui/src/bindings/DeliveryEvent";
import type { DeliveryRates } from "../../../ui/src/bindings/DeliveryRates";
import type { HistoryFilter } from "../../../ui/src/bindings/HistoryFilter";
import type { IpcError } from "../../../ui/src/bindings/IpcError";
import type { LogEvent } from "../../../ui/src/bindings/LogEvent";
import type { LogSnapshot } from "../../../ui/src/bindings/LogSnapshot";
import type { ProviderHealth } from "../../../ui/src/bindings/ProviderHealth";
import type { RotateRequest } from "../../../ui/src/bindings/RotateRequest";
import type { SecretKind } from "../../../ui/src/bindings/SecretKind";
import type { Settings } from "../../../ui/src/bindings/Settings";
import type { Skip } from "../../../ui/src/bindings/Skip";
import type { TestSendRequest } from "../../../ui/src/bindings/TestSendRequest";
import type { TestSendResult } from "../../../ui/src/bindings/TestSendResult";
import * as fixtures from "./fixtures";
import { queryHistory, seedSends, summarise, type StoredSend } from "./history";
import { applySettings, checkSettings, settingsFrom } from "./settings";

/** Set by the harness before this script runs. */
interface Options {
  /** How many codes the log snapshot holds. */
  codes?: number;
  /** How many sends the history holds. */
  sends?: number;
  /** Saved remote connections at start (the window starts on this computer). */
  connections?: ConnectionInfo[];
  /**
   * A first start: no key stored, no backend log followed, no code, no send (the other
   * options are ignored).
   */
  fresh?: boolean;
}

declare global {
  interface Window {
    __msgopsOptions?: Options;
    __msgops: typeof control;
  }
}

const options: Options = window.__msgopsOptions ?? {};

const fresh = options.fresh === true;
const health = fresh ? fixtures.freshHealth() : fixtures.health();
const sends = seedSends(fresh ? 0 : (options.sends ?? 250));
const state = {
  health,
  status: fixtures.appStatus(),
  keychain: fixtures.keychainHealth(),
  codes: fixtures.codes(fresh ? 0 : (options.codes ?? 12)),
  diagnostics: fresh ? [] : fixtures.diagnostics(),
  /** The followed files: the settings' ones and the Console's own log. */
  files: fresh ? [fixtures.CONSOLE_LOG] : [fixtures.BACKEND_LOG],
  clocks: fresh ? [] : fixtures.clocks(),
  sends,
  /** The providers' delivery reports, as msgops keeps them (any order, duplicates and all). */
  deliveries: fresh ? [] : fixtures.deliveries(sends),
  settings: settingsFrom(health, fresh ? [] : [fixtures.BACKEND_LOG]),
  secrets: fresh ? ({} as ReturnType<typeof fixtures.secrets>) : fixtures.secrets(),
  audit: fresh ? [] : fixtures.audit(),
  operations: [] as OperationEntry[],
  /** Providers whose next calls fail with an authentication error. */
  failing: new Set<string>(fresh ? [] : ["sns"]),
  /** What the native file dialog answers next, in order; empty: the operator cancels. */
  picks: [] as string[],
  /** What the clipboard plugin was last asked to hold. */
  clipboard: null as string | null,
  /** `[desktop]` and the login entry. */
  desktop: { close_to_tray: true, global_shortcut: null, start_at_login: false, start_at_login_problem: null } as DesktopSettings,

  /** Saved remote connections; their tokens (never returned) by name. */
  connections: [...(options.connections ?? [])] as ConnectionInfo[],
  tokens: {} as Record<string, string>,
  /** The connection the window is on; null: this computer. */
  active: null as string | null,
  remote: { state: "local" } as RemoteStatus,
  /**
   * Whether a switch to a remote connects by itself a moment later (its status `connected`,
   * said by an event); false: it stays `connecting` until a test calls `setRemoteStatus`.
   */
  autoConnect: true,
  /** Every remote service's health and codes (one fake `msgops serve` answers for all). */
  remoteHealth: fixtures.remoteHealth(),
  remoteCodes: 3,
  /** The remote service's history: none until a test send goes through it. */
  remoteSends: [] as StoredSend[],
  /** Hosts whose certificates this computer's system roots trust; the others are self-signed. */
  trustedHosts: new Set<string>(["msgops.trusted.example"]),
};

const FIELDS: Record<CredentialProvider, [SecretKind, string, string][]> = {
  aws: [
    ["aws_access_key_id", "AWS access key ID", "AWS_ACCESS_KEY_ID"],
    ["aws_secret_access_key", "AWS secret access key", "AWS_SECRET_ACCESS_KEY"],
  ],
  twilio: [
    ["twilio_account_sid", "Twilio account SID", "TWILIO_ACCOUNT_SID"],
    ["twilio_auth_token", "Twilio auth token", "TWILIO_AUTH_TOKEN"],
  ],
  sendgrid: [["sendgrid_api_key", "SendGrid API key", "SENDGRID_API_KEY"]],
  smtp: [["smtp_password", "SMTP password", "SMTP_PASSWORD"]],
};

/** The backend's masking (crates/credentials/src/mask.rs): the mask, then the last
 * characters, at most 4 and never more than a quarter of the value. */
function mask(value: string): string {
  const chars = [...value];
  const shown = Math.min(4, Math.floor(chars.length / 4));
  return "•".repeat(8) + chars.slice(chars.length - shown).join("");
}

/** Which providers use which credentials (msgops_providers::providers_using). */
const USES: Record<CredentialProvider, string[]> = { aws: ["sns", "ses"], twilio: ["twilio"], sendgrid: ["sendgrid"], smtp: ["smtp"] };

/** New credentials replace the providers using them: what the old key ran into is cleared. */
function reinstalled(credentials: CredentialProvider) {
  for (const p of providers().filter((p) => USES[credentials].includes(p.id))) {
    Object.assign(p, { configured: true, is_healthy: p.enabled, last_error: null, last_probe: null, consecutive_failures: 0, breaker_state: "CLOSED", open_until: null, open_remaining_ms: null });
  }
}

function credentialStatuses(): CredentialStatus[] {
  return (Object.keys(FIELDS) as CredentialProvider[]).map((provider) => {
    const fields = FIELDS[provider].map(([kind, label, env_var]) => {
      const value = state.secrets[kind];
      return { kind, label, env_var, masked: value === undefined ? null : mask(value) };
    });
    const stored = fields.filter((f) => f.masked !== null).length;
    const held = stored === fields.length ? "stored" : stored === 0 ? "missing" : "partial";
    // As msgops_providers::mark_refused: stored, but refused at a provider's last call.
    const refused = providers().find((p) => USES[provider].includes(p.id) && p.consecutive_failures > 0 && p.last_error?.kind === "authentication");
    if (held === "stored" && refused) {
      return { provider, fields, state: "invalid", problem: `${refused.display_name} refused it: ${refused.last_error?.message}` };
    }
    return { provider, fields, state: held, problem: null };
  });
}

function record(provider: CredentialProvider | null, action: CredentialAuditEntry["action"], outcome: CredentialAuditEntry["outcome"], message: string) {
  state.audit.push({ timestamp: new Date().toISOString(), provider, action, outcome, message, actor: { via: "app", user: "ops", host: "support-desk" } });
}

const providers = (): ProviderHealth[] => [...state.health.sms_providers, ...state.health.email_providers];

/** The health of the side the window is on: this computer's, or the remote service's. */
const shownHealth = () => (state.active === null ? state.health : state.remoteHealth);
/** The sends of the side the window is on (GET /api/v1/sends over a remote connection). */
const shownSends = () => (state.active === null ? state.sends : state.remoteSends);

function findProvider(id: string, health = state.health): ProviderHealth {
  const p = [...health.sms_providers, ...health.email_providers].find((p) => p.id === id);
  if (!p) throw ipcError("NotFound", `no provider ${id}`);
  return p;
}

const ipcError = (code: IpcError["code"], message: string): IpcError => ({ code, message });

/** Walks the chain like the real one: skips what cannot send, fails over on errors. */
function sendTest(request: TestSendRequest): TestSendResult {
  const chain = request.channel === "sms" ? state.health.sms_providers : state.health.email_providers;
  const attempts: Attempt[] = [];
  const skipped: Skip[] = [];
  let deliveredBy: ProviderKind | null = null;
  for (const p of chain) {
    if (deliveredBy || (request.provider && p.id !== request.provider)) continue;
    // A test send through one provider only is made even when its breaker is OPEN: its trial.
    const open = p.breaker_state === "OPEN" && !request.provider;
    const skip = !p.enabled ? "disabled" : !p.configured ? "not_configured" : open ? "breaker_open" : null;
    if (skip) {
      skipped.push({ provider: p.id, reason: skip });
      continue;
    }
    const fails = state.failing.has(p.id);
    attempts.push({
      provider: p.id,
      outcome: fails ? "failed" : "delivered",
      latency_ms: fails ? 212 : 348,
      error_kind: fails ? "authentication" : null,
      error: fails ? "HTTP 403: The security token included in the request is invalid" : null,
      provider_code: null,
      cost_usd: fails ? 0 : p.cost_per_message_usd,
      provider_message_id: fails ? null : `${p.id}-${p.sent + 1}`,
    });
    if (fails) p.failed += 1;
    else {
      if (p.breaker_state !== "CLOSED") {
        p.breaker_state = "CLOSED";
        p.consecutive_failures = 0;
        p.open_until = null;
        p.is_healthy = true;
      }
      p.sent += 1;
      p.cost_usd += p.cost_per_message_usd;
      deliveredBy = p.id;
    }
  }
  const outcome = deliveredBy
    ? { status: "delivered" as const, provider: deliveredBy, attempts, skipped }
    : { status: "failed" as const, reason: "every provider failed or was skipped", attempts, skipped };
  return {
    record: { channel: request.channel, recipient: request.to, started_at: new Date().toISOString(), duration_ms: 571, outcome },
    code: fixtures.TEST_SEND_CODE,
  };
}

// Handlers take the `invoke` arguments object (named as in ui/src/api/tauri.ts).
type Handler = (args: any) => unknown;

export const handlers: Record<string, Handler> = {
  app_status: () => state.status,
  health_snapshot: () => fixtures.withChains(shownHealth()),
  set_provider_enabled: ({ provider, enabled }: { provider: string; enabled: boolean }) => {
    // On a remote connection, the remote service's provider (PUT /api/v1/providers/…/enabled).
    findProvider(provider, shownHealth()).enabled = enabled;
    return fixtures.withChains(shownHealth());
  },
  control_provider: ({ provider, control }: { provider: ProviderKind; control: Control }): ControlOutcome => {
    // On a remote connection, the remote service's provider.
    const p = findProvider(provider, shownHealth());
    const from = p.breaker_state;
    let transition: Transition | null = null;
    const move = (to: ProviderHealth["breaker_state"], reason: string) => {
      transition = { from, to, at: new Date().toISOString(), reason };
      p.breaker_state = to;
      p.open_until = null;
      p.open_remaining_ms = null;
      setTimeout(() => emitChain({ kind: "breaker_transition", channel: p.channel, provider: p.id, transition: transition as Transition }));
    };
    const by = "ops@support-desk (app)";
    if (control === "reset" && (from !== "CLOSED" || p.consecutive_failures > 0)) {
      move("CLOSED", `reset by ${by}`);
      p.consecutive_failures = 0;
      p.last_error = null;
      p.is_healthy = p.enabled && p.configured;
      state.failing.delete(p.id);
    } else if (control === "trial" && from === "OPEN") {
      move("HALF_OPEN", `trial by ${by}`);
    }
    if (control === "probe") p.last_probe = { ok: true, error_kind: null, message: null, at: new Date().toISOString() };
    const outcome: ControlOutcome = { provider: p.id, control, transition, state: p.breaker_state, probe: control === "probe" ? p.last_probe : null };
    const detail = transition ? `${from} → ${p.breaker_state}` : control === "probe" ? "probe succeeded" : `nothing to do: ${p.breaker_state}`;
    const operation = control === "reset" ? "breaker_reset" : control === "trial" ? "breaker_trial" : "probe";
    state.operations.unshift({ at: new Date().toISOString(), actor: { via: "app", user: "ops", host: "support-desk" }, operation, provider: p.id, ok: true, detail });
    return outcome;
  },
  operations_audit: () => state.operations,
  send_test: ({ request }: { request: TestSendRequest }) => {
    if (state.active !== null) {
      // Through the remote service's whole chain, into its history.
      if (request.provider) {
        throw ipcError("RemoteUnsupported", `a test send over a remote connection goes through the whole chain of \`${state.active}\`: choose "Whole chain"`);
      }
      const result = sendTest(request);
      state.remoteSends.push(result.record);
      return result;
    }
    const result = sendTest(request);
    state.sends.push(result.record);
    setTimeout(() => emitChain({ kind: "send_finished", record: result.record }));
    // The Console writes its code to its own log, which the watcher reads a moment later.
    if (result.record.outcome.status === "delivered" && result.record.outcome.provider === "console") {
      const now = Date.now();
      setTimeout(
        () =>
          emitLog({
            kind: "code",
            recipient: request.to,
            candidates: [],
            code: result.code,
            logged_at: fixtures.localTime(now),
            created_at: new Date(now).toISOString(),
            expires_at: new Date(now + 600_000).toISOString(),
            time: "logged",
            expired: false,
            source: "console",
            file: state.status.console_log,
            line: state.codes.filter((c) => c.file === state.status.console_log).length + 1,
          }),
        150,
      );
    }
    return result;
  },
  log_snapshot: (): LogSnapshot =>
    state.active === null
      ? { codes: state.codes, diagnostics: state.diagnostics, files: state.files, clocks: state.clocks }
      : { codes: fixtures.remoteCodes(state.active, state.remoteCodes), diagnostics: [], files: [state.active], clocks: [] },

  keychain_health: () => state.keychain,
  credential_statuses: () => credentialStatuses(),
  credential_audit: () => state.audit,
  preview_env_import: ({ path }: { path: string }) => {
    if (!path.endsWith(".env")) throw ipcError("Io", `cannot read ${path}: No such file or directory`);
    return fixtures.importPreview(path, mask, state.secrets);
  },
  apply_env_import: ({ request }: { request: ApplyImportRequest }) => {
    const stored: SecretKind[] = state.secrets.sendgrid_api_key === undefined ? ["sendgrid_api_key"] : [];
    state.secrets.sendgrid_api_key = fixtures.envFile.sendgrid_api_key;
    reinstalled("sendgrid");
    record("sendgrid", "import", "success", `stored ${stored.join(", ") || "nothing"} from ${request.path}`);
    return {
      stored,
      unchanged: ["aws_access_key_id"],
      kept_existing: [],
      rewritten: request.rewrite,
      removed_lines: request.rewrite ? [3, 7] : [],
      settings: fixtures.importPreview(request.path, mask, state.secrets).imported_settings,
    };
  },
  // A value containing WRONG is what the provider refuses.
  rotate_credentials: ({ request }: { request: RotateRequest }) => {
    const entries = Object.entries(request.values).filter(([, v]) => v) as [SecretKind, string][];
    if (entries.length === 0) throw ipcError("Validation", "enter at least one new value");
    if (entries.some(([, v]) => v.includes("WRONG"))) {
      record(request.provider, "validation_failed", "failure", "HTTP 401, Twilio error 20003: Authenticate");
      throw ipcError("ProviderRejected", `${request.provider} refused the new credentials: HTTP 401, Twilio error 20003: Authenticate`);
    }
    for (const [kind, value] of entries) state.secrets[kind] = value;
    reinstalled(request.provider);
    record(request.provider, "rotate", "success", `replaced ${entries.map(([k]) => k).join(", ")}`);
    return { provider: request.provider, replaced: entries.map(([k]) => k), masked: Object.fromEntries(entries.map(([k, v]) => [k, mask(v)])) };
  },
  remove_credentials: ({ provider }: { provider: CredentialProvider }) => {
    const removed = FIELDS[provider].map(([kind]) => kind).filter((kind) => state.secrets[kind] !== undefined);
    for (const kind of removed) delete state.secrets[kind];
    record(provider, "remove", "success", `deleted ${removed.join(", ")}`);
    return removed;
  },

  send_history: ({ filter }: { filter: HistoryFilter }) => queryHistory(shownSends(), filter, state.active === null ? state.deliveries : []),
  history_summary: ({ days }: { days: number }) => summarise(shownSends(), days),
  provider_timeline: ({ hours }: { hours: number }) => fixtures.providerTimelines(hours),
  dashboard_painted: () => null,

  get_settings: () => state.settings,
  check_settings: ({ settings }: { settings: Settings }) => checkSettings(settings),
  save_settings: ({ settings }: { settings: Settings }) => {
    const problems = checkSettings(settings);
    const errors = problems.filter((p) => p.severity === "error");
    if (errors.length > 0) throw ipcError("Validation", errors.map((p) => `${p.field}: ${p.message}`).join("; "));
    const logsChanged = JSON.stringify(settings.logs) !== JSON.stringify(state.settings.logs);
    state.settings = settings;
    state.files = [...settings.logs.follow];
    state.clocks = state.clocks.filter((c) => state.files.includes(c.file));
    applySettings(settings, state.health);
    // The real log watcher restarts on new log settings and says so.
    if (logsChanged) setTimeout(() => emit(LOG_RESET_EVENT, null));
    return { settings, warnings: problems };
  },

  connections: () => connectionsView(),
  connection_fingerprint: ({ url }: { url: string }) => {
    const address = checkUrl(url);
    return address.protocol === "http:" ? null : fixtures.SERVICE_FINGERPRINT;
  },
  // As the app: the service is asked before anything is saved. A token containing WRONG is
  // refused by the service; a certificate neither pinned nor trusted by the system roots is
  // refused by the app.
  add_connection: ({ request }: { request: AddConnection }) => {
    const name = request.name.trim();
    if (!/^[\p{L}\p{N} _-]{1,40}$/u.test(name)) throw ipcError("Validation", `${JSON.stringify(name)} cannot be a connection's name (letters, digits, spaces, - and _ only)`);
    if (state.connections.some((c) => c.name.toLowerCase() === name.toLowerCase())) throw ipcError("Conflict", `there is already a connection named \`${name}\``);
    const address = checkUrl(request.url);
    const pin = request.fingerprint?.trim() || null;
    if (pin && address.protocol === "http:") throw ipcError("Validation", "a plain http:// address (this computer only) has no certificate to pin: leave the fingerprint empty");
    if (pin && pin.toUpperCase() !== fixtures.SERVICE_FINGERPRINT) {
      throw ipcError("RemoteUntrusted", `the certificate of ${address.host} is not the pinned one: it presents ${fixtures.SERVICE_FINGERPRINT}`);
    }
    if (!pin && address.protocol === "https:" && !state.trustedHosts.has(address.hostname)) {
      throw ipcError("RemoteUntrusted", `the certificate of ${address.host} is not trusted by this computer's system roots (self-signed?): check it and pin its fingerprint`);
    }
    if (request.token.includes("WRONG")) throw ipcError("RemoteRefused", `${address.host} refused the token (HTTP 401): check it with \`msgops token list\` on the service's host`);
    state.connections.push({ name, url: address.toString(), fingerprint: pin && pin.toUpperCase(), has_token: true });
    state.tokens[name] = request.token;
    return connectionsView();
  },
  remove_connection: ({ name }: { name: string }) => {
    if (!state.connections.some((c) => c.name === name)) throw ipcError("NotFound", `no connection named \`${name}\``);
    state.connections = state.connections.filter((c) => c.name !== name);
    delete state.tokens[name];
    if (state.active === name) switchTo(null);
    return connectionsView();
  },
  use_connection: ({ name }: { name: string | null }) => {
    if (name !== null && !state.connections.some((c) => c.name === name)) throw ipcError("NotFound", `no connection named \`${name}\``);
    if (name !== state.active) switchTo(name);
    return connectionsView();
  },

  desktop_settings: () => state.desktop,
  check_global_shortcut: ({ shortcut }: { shortcut: string }) => checkShortcut(shortcut),
  save_desktop_settings: ({ draft }: { draft: DesktopDraft }) => {
    const shortcut = draft.global_shortcut?.trim() || null;
    const problem = shortcut === null ? null : checkShortcut(shortcut);
    if (problem) throw ipcError("Validation", problem);
    state.desktop = { ...state.desktop, close_to_tray: draft.close_to_tray, global_shortcut: shortcut };
    return state.desktop;
  },
  set_start_at_login: ({ enabled }: { enabled: boolean }) => {
    state.desktop = { ...state.desktop, start_at_login: enabled };
    return state.desktop;
  },

  // The native file dialog: the next of `picks`, or null (cancelled).
  "plugin:dialog|open": () => state.picks.shift() ?? null,

  "plugin:clipboard-manager|write_text": ({ text }: { text: string }) => {
    state.clipboard = text;
    return null;
  },
};


/** https anywhere, or http to this computer only (msgops_remote::check_url), normalised. */
function checkUrl(url: string): URL {
  let address: URL;
  try {
    address = new URL(url.trim());
  } catch {
    throw ipcError("Validation", `\`${url}\` is not an address: write it as https://host:port`);
  }
  const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(address.hostname);
  if (address.protocol === "http:" && !loopback) throw ipcError("Validation", `plain http is for this computer only: use https://${address.host}`);
  if (address.protocol !== "https:" && address.protocol !== "http:") throw ipcError("Validation", `\`${url}\` is not an http(s) address`);
  if (address.hostname.includes("unreachable")) throw ipcError("RemoteUnreachable", `cannot reach ${address.host}: connection refused`);
  return address;
}

let viewRevision = 0;

function connectionsView(): ConnectionsView {
  // Every view newer than the last, as the app numbers them.
  viewRevision += 1;
  return { revision: viewRevision, active: state.active, connections: state.connections, status: state.active === null ? { state: "local" } : state.remote };
}

/**
 * Puts the window on a connection, as the app does: says so (and that the codes changed side),
 * then, with `autoConnect`, says it is connected a moment later.
 */
function switchTo(name: string | null) {
  state.active = name;
  state.remote = name === null ? { state: "local" } : { state: "connecting" };
  setTimeout(() => {
    emit(LOG_RESET_EVENT, null);
    emitConnection();
  });
  if (name !== null && state.autoConnect) {
    setTimeout(() => {
      if (state.active === name && state.remote.state === "connecting") setRemoteStatus({ state: "connected", since: new Date().toISOString() });
    }, 150);
  }
}

/** Tells the window the connection in use and its status, as the app's CONNECTION_EVENT. */
function emitConnection(): Promise<void> {
  return emit(CONNECTION_EVENT, overIpc(connectionsView()));
}

/** The connection in use connects, is lost (with a retry) or connects again: said by an event. */
function setRemoteStatus(status: RemoteStatus): Promise<void> {
  state.remote = status;
  return emitConnection();
}

/** Pushes a chain event to the window, as the backend does on every transition and send. */
function emitChain(event: ChainEvent): Promise<void> {
  return emit(CHAIN_EVENT, structuredClone(event));
}

/**
 * New delivery reports reached msgops: they join the others, and the window is told with the
 * rates over the last hour (the health snapshot's, which a test may have changed first).
 */
function emitDeliveries(reports: DeliveryEvent[] = []): Promise<void> {
  state.deliveries.push(...reports);
  const rates: DeliveryRates = state.health.delivery ?? { window_secs: 3600, providers: [] };
  return emit(DELIVERY_EVENT, overIpc(rates));
}

/**
 * A value as it arrives from the backend: through JSON, so a `u64` (a `bigint` in the
 * bindings, written so in the fixtures) is a number, and the UI never shares objects with the
 * state. A command returning nothing answers null, as Tauri does for `()`.
 */
function overIpc<T>(value: T): T {
  if (value === undefined) return null as T;
  return JSON.parse(JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v)));
}

/**
 * Pushes a log event; a code also joins the log, and a clock replaces its file's, so a later
 * snapshot has them too.
 */
function emitLog(event: LogEvent): Promise<void> {
  if (event.kind === "code") {
    const { kind: _kind, ...code } = event;
    state.codes.push(code);
  } else if (event.kind === "clock") {
    const { kind: _kind, ...clock } = event;
    state.clocks = [...state.clocks.filter((c) => c.file !== clock.file), clock];
  } else state.diagnostics.push(event);
  return emit(LOG_EVENT, structuredClone(event));
}

/**
 * Files dragged over the window, as the webview says it (Tauri's drag-drop events), then
 * dropped on it, dragged away again (`leave`), or still held over it (`hover`).
 */
async function dropFiles(paths: string[], end: "drop" | "leave" | "hover" = "drop"): Promise<void> {
  const position = { x: 400, y: 300 };
  await emit("tauri://drag-enter", { paths, position });
  await emit("tauri://drag-over", { position });
  if (end === "drop") await emit("tauri://drag-drop", { paths, position });
  else if (end === "leave") await emit("tauri://drag-leave", null);
}

/** A few of the rules of `desktop::check_shortcut`: modifiers, then one key, with Ctrl, Alt or Super. */
function checkShortcut(shortcut: string): string | null {
  const text = shortcut.trim();
  if (text === "") return null;
  const parts = text.split("+").map((p) => p.trim());
  if (parts.some((p) => p === "")) return `\`${text}\` has an empty part between two +`;
  const mods = parts.slice(0, -1).map((p) => p.toLowerCase());
  if (!mods.some((m) => ["ctrl", "control", "alt", "super", "commandorcontrol", "cmdorctrl"].includes(m)))
    return `\`${text}\` needs Ctrl, Alt or Super (CommandOrControl) too: without one, the key would be taken from every other application`;
  return null;
}

/** As the app does when a code's notification is clicked or the global shortcut pressed. */
function openCodes(open: OpenCodes): Promise<void> {
  return emit(OPEN_CODES_EVENT, open);
}

/** What the tests see as `window.__msgops`. */
const control = {
  state,
  handlers,
  /** Every command invoked, in order, with its arguments. */
  calls: [] as { cmd: string; args: unknown }[],
  /** Commands the UI invoked that no handler answers. */
  unmocked: [] as string[],
  emitChain,
  emitLog,
  emitDeliveries,
  emitConnection,
  setRemoteStatus,
  dropFiles,
  openCodes,
  /** The fingerprint every fake service's certificate has. */
  fingerprint: fixtures.SERVICE_FINGERPRINT,
  mask,
  localTime: fixtures.localTime,
};

mockWindows("main");
mockIPC(
  async (cmd, args) => {
    control.calls.push({ cmd, args: structuredClone(args ?? {}) });
    const handler = handlers[cmd];
    if (!handler) {
      control.unmocked.push(cmd);
      throw ipcError("Internal", `unmocked command ${cmd}`);
    }
    return overIpc(await handler(args ?? {}));
  },
  { shouldMockEvents: true },
);
window.__msgops = control;
