import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { DesktopDraft } from "../bindings/DesktopDraft";
import type { DesktopSettings as DesktopValue } from "../bindings/DesktopSettings";
import { DesktopSettings, SUGGESTED_SHORTCUT } from "./DesktopSettings";

/** As the backend: modifiers then one key, with Ctrl, Alt or Super. */
function problemOf(shortcut: string): string | null {
  if (!/^((Ctrl|Alt|Super|CommandOrControl|Shift)\+)+[A-Z0-9]$/i.test(shortcut)) return `\`${shortcut}\` is not modifiers then one key: write it like CommandOrControl+Shift+K`;
  if (!/(Ctrl|Alt|Super|CommandOrControl)\+/i.test(shortcut)) return `\`${shortcut}\` needs Ctrl, Alt or Super (CommandOrControl) too`;
  return null;
}

function fakeBackend(start: Partial<DesktopValue> = {}) {
  let value: DesktopValue = { close_to_tray: true, global_shortcut: null, start_at_login: false, start_at_login_problem: null, ...start };
  const backend = {
    desktopSettings: vi.fn(async () => value),
    checkGlobalShortcut: vi.fn(async (s: string) => problemOf(s)),
    saveDesktopSettings: vi.fn(async (draft: DesktopDraft) => {
      const problem = draft.global_shortcut ? problemOf(draft.global_shortcut) : null;
      if (problem) throw { code: "Validation", message: problem };
      value = { ...value, ...draft };
      return value;
    }),
    setStartAtLogin: vi.fn(async (enabled: boolean) => (value = { ...value, start_at_login: enabled })),
  };
  return backend;
}

describe("DesktopSettings", () => {
  it("starts at login only when switched on, through the login entry", async () => {
    const backend = fakeBackend();
    render(<DesktopSettings backend={backend} />);
    const login = await screen.findByTestId("start-at-login");
    expect(login).not.toBeChecked();
    await userEvent.click(login);
    expect(backend.setStartAtLogin).toHaveBeenCalledWith(true);
    await waitFor(() => expect(screen.getByTestId("start-at-login")).toBeChecked());
    expect(screen.getByTestId("desktop-status")).toHaveTextContent("msgops starts when you log in");
    expect(backend.saveDesktopSettings).not.toHaveBeenCalled();
  });

  it("closes to the tray by default, and saves it when switched off", async () => {
    const backend = fakeBackend();
    render(<DesktopSettings backend={backend} />);
    const tray = await screen.findByTestId("close-to-tray");
    expect(tray).toBeChecked();
    await userEvent.click(tray);
    expect(backend.saveDesktopSettings).toHaveBeenCalledWith({ close_to_tray: false, global_shortcut: null });
    await waitFor(() => expect(screen.getByTestId("desktop-status")).toHaveTextContent("Closing the window now quits msgops."));
  });

  it("offers a shortcut, says what is wrong with one as it is typed, and saves a valid one", async () => {
    const backend = fakeBackend();
    render(<DesktopSettings backend={backend} />);
    const on = await screen.findByTestId("shortcut-on");
    expect(on).not.toBeChecked();
    expect(screen.queryByTestId("shortcut-input")).toBeNull();
    await userEvent.click(on);
    const input = screen.getByTestId("shortcut-input");
    expect(input).toHaveValue(SUGGESTED_SHORTCUT);
    await userEvent.clear(input);
    await userEvent.type(input, "Shift+K");
    await waitFor(() => expect(screen.getByTestId("shortcut-problem")).toHaveTextContent("needs Ctrl, Alt or Super"));
    expect(input).toHaveAttribute("aria-invalid", "true");
    expect(screen.getByTestId("shortcut-save")).toBeDisabled();
    await userEvent.clear(input);
    await userEvent.type(input, "Ctrl+Alt+K");
    await waitFor(() => expect(screen.queryByTestId("shortcut-problem")).toBeNull());
    await waitFor(() => expect(screen.getByTestId("shortcut-save")).toBeEnabled());
    // Enter saves the shortcut (not the page's form).
    await userEvent.type(input, "{Enter}");
    await waitFor(() => expect(backend.saveDesktopSettings).toHaveBeenCalledWith({ close_to_tray: true, global_shortcut: "Ctrl+Alt+K" }));
    expect(await screen.findByTestId("desktop-status")).toHaveTextContent("Ctrl+Alt+K now opens the Codes search.");
    expect(screen.getByTestId("shortcut-save")).toBeDisabled();
  });

  it("switches a saved shortcut off at once", async () => {
    const backend = fakeBackend({ global_shortcut: "CommandOrControl+Shift+K" });
    render(<DesktopSettings backend={backend} />);
    const on = await screen.findByTestId("shortcut-on");
    expect(on).toBeChecked();
    expect(screen.getByTestId("shortcut-input")).toHaveValue("CommandOrControl+Shift+K");
    await userEvent.click(on);
    expect(backend.saveDesktopSettings).toHaveBeenCalledWith({ close_to_tray: true, global_shortcut: null });
    await waitFor(() => expect(screen.queryByTestId("shortcut-input")).toBeNull());
  });

  it("says why a shortcut was refused when saving", async () => {
    const backend = fakeBackend();
    backend.saveDesktopSettings.mockRejectedValueOnce({ code: "Validation", message: "`Ctrl+Alt+K` could not be registered (another application may hold it)" });
    render(<DesktopSettings backend={backend} />);
    await userEvent.click(await screen.findByTestId("shortcut-on"));
    const input = screen.getByTestId("shortcut-input");
    await userEvent.clear(input);
    await userEvent.type(input, "Ctrl+Alt+K");
    await waitFor(() => expect(screen.getByTestId("shortcut-save")).toBeEnabled());
    await userEvent.click(screen.getByTestId("shortcut-save"));
    expect(await screen.findByTestId("desktop-error")).toHaveTextContent("Not changed: `Ctrl+Alt+K` could not be registered");
  });
});
