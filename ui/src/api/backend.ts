// The one interface the UI talks to. The desktop app implements it over Tauri IPC; tests and
// the browser build implement it with fakes, so the same UI runs everywhere.
import type { AppStatus } from "../bindings/AppStatus";
import type { ChainEvent } from "../bindings/ChainEvent";
import type { HealthSnapshot } from "../bindings/HealthSnapshot";
import type { IpcError } from "../bindings/IpcError";
import type { SendRecord } from "../bindings/SendRecord";
import type { TestSendRequest } from "../bindings/TestSendRequest";

export interface Backend {
  healthSnapshot(): Promise<HealthSnapshot>;
  sendTest(request: TestSendRequest): Promise<SendRecord>;
  appStatus(): Promise<AppStatus>;
  /** Calls `handler` for every chain event; resolves to an unsubscribe function. */
  onChainEvent(handler: (event: ChainEvent) => void): Promise<() => void>;
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
