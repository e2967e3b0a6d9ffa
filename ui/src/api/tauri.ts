import { invoke } from "@tauri-apps/api/core";
import { listen } from "@tauri-apps/api/event";
import type { Backend } from "./backend";
import type { ChainEvent } from "../bindings/ChainEvent";

/** Must match `CHAIN_EVENT` in src-tauri/lib.rs. */
export const CHAIN_EVENT = "msgops://chain";

export const tauriBackend: Backend = {
  healthSnapshot: () => invoke("health_snapshot"),
  sendTest: (request) => invoke("send_test", { request }),
  appStatus: () => invoke("app_status"),
  onChainEvent: (handler) => listen<ChainEvent>(CHAIN_EVENT, (e) => handler(e.payload)),
};
