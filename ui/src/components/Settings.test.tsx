import type { ProviderKind } from "../bindings/ProviderKind";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "../api/backend";
import type { ProviderSettings } from "../bindings/ProviderSettings";
import type { SavedSettings } from "../bindings/SavedSettings";
import type { Settings as SettingsValue } from "../bindings/Settings";
import type { SettingsProblem } from "../bindings/SettingsProblem";
import { Settings } from "./Settings";

const provider = (id: ProviderKind, display_name: string, channel: "sms" | "email", cost_usd: number): ProviderSettings => ({
  id,
  display_name,
  channel,
  failure_threshold: 5,
  open_secs: 60,
  rate_per_second: 10,
  cost_usd,
});

const inForce: SettingsValue = {
  logs: { follow: ["/var/log/app/backend.log"], code_lifetime_secs: 300, patterns: [], timezone: "auto", code_length: 6 },
  providers: [
    provider("sns", "AWS SNS", "sms", 0.00645),
    provider("twilio", "Twilio", "sms", 0.0079),
    provider("console", "Console", "sms", 0),
    provider("ses", "AWS SES", "email", 0.0001),
    provider("sendgrid", "SendGrid", "email", 0.0004),
    provider("smtp", "SMTP", "email", 0),
  ],
};

/** A few of the rules of crates/settings `check`, enough to see the form react to them. */
function check(s: SettingsValue): SettingsProblem[] {
  const out: SettingsProblem[] = [];
  s.logs.follow.forEach((f, i) => {
    if (!f.startsWith("/")) out.push({ field: `logs.follow.${i}`, severity: "error", message: `\`${f}\` is relative: give the full path` });
    else if (f !== "/var/log/app/backend.log")
      out.push({ field: `logs.follow.${i}`, severity: "warning", message: "does not exist yet: msgops will read it from its first line once it appears" });
  });
  const zones = ["auto", "local", "UTC", "America/Toronto", "Asia/Kolkata"];
  if (!zones.includes(s.logs.timezone))
    out.push({ field: "logs.timezone", severity: "error", message: `unknown time zone \`${s.logs.timezone}\`: use auto, local, UTC or an IANA name` });
  if (s.logs.code_length < 4 || s.logs.code_length > 10)
    out.push({ field: "logs.code_length", severity: "error", message: `must be between 4 and 10 digits, not ${s.logs.code_length}` });
  for (const p of s.providers) {
    if (p.failure_threshold > 1000)
      out.push({ field: `providers.${p.id}.failure_threshold`, severity: "error", message: "must be 1000 or less (0 means the breaker never opens)" });
  }
  return out;
}

function fakeBackend() {
  const getSettings = vi.fn(async () => structuredClone(inForce));
  const checkSettings = vi.fn(async (s: SettingsValue) => check(s));
  const saveSettings = vi.fn(async (s: SettingsValue): Promise<SavedSettings> => ({ settings: s, warnings: check(s) }));
  const desktop = { desktopSettings: vi.fn(async () => ({ close_to_tray: true, global_shortcut: null, start_at_login: false, start_at_login_problem: null })) };
  return { backend: { getSettings, checkSettings, saveSettings, ...desktop } as unknown as Backend, getSettings, checkSettings, saveSettings };
}

const save = () => screen.getByRole("button", { name: "Save" });
const discard = () => screen.getByRole("button", { name: "Discard changes" });

async function replace(label: string, text: string) {
  const input = screen.getByLabelText(label);
  await userEvent.clear(input);
  if (text) await userEvent.type(input, text);
  return input;
}

/** The text an input's aria-describedby points at. */
function description(input: HTMLElement): string {
  return (input.getAttribute("aria-describedby") ?? "")
    .split(" ")
    .filter(Boolean)
    .map((id) => document.getElementById(id)?.textContent ?? "")
    .join(" ");
}

async function renderLoaded() {
  const f = fakeBackend();
  render(<Settings backend={f.backend} configPath="/home/op/.config/msgops/config.toml" />);
  await screen.findByLabelText("Log file 1");
  // The settings in force are checked once on load.
  await waitFor(() => expect(f.checkSettings).toHaveBeenCalled());
  return f;
}

describe("Settings", () => {
  it("loads the settings in force: logs, lifetime in minutes, each provider's numbers", async () => {
    await renderLoaded();
    expect(screen.getByLabelText("Log file 1")).toHaveValue("/var/log/app/backend.log");
    expect(screen.getByLabelText("Code lifetime")).toHaveValue("5");
    expect(screen.getByLabelText("Code lifetime unit")).toHaveValue("minutes");
    expect(screen.getByLabelText("Log time zone")).toHaveValue("auto");
    expect(description(screen.getByLabelText("Log time zone"))).toContain("auto, local, UTC or an IANA name like America/Toronto");
    expect(screen.getByLabelText("Code length")).toHaveValue(6);
    expect(screen.getByLabelText("Twilio failure threshold")).toHaveValue("5");
    expect(screen.getByLabelText("Twilio cool-down seconds")).toHaveValue("60");
    expect(screen.getByLabelText("AWS SES rate per second")).toHaveValue("10");
    expect(screen.getByLabelText("SendGrid cost per message USD")).toHaveValue("0.0004");
    expect(screen.getByRole("table", { name: /SMS chain/ })).toHaveTextContent("AWS SNS");
    expect(screen.getByRole("table", { name: /Email chain/ })).toHaveTextContent("SMTP");
    expect(save()).toBeDisabled();
    expect(discard()).toBeDisabled();
  });

  it("shows the backend's problem next to the field as you type, and Save waits until it is fixed", async () => {
    const f = await renderLoaded();
    const input = await replace("Twilio failure threshold", "5000");
    await waitFor(() => expect(input).toHaveAttribute("aria-invalid", "true"));
    expect(description(input)).toContain("must be 1000 or less");
    expect(f.checkSettings.mock.lastCall?.[0].providers[1].failure_threshold).toBe(5000);
    expect(save()).toBeDisabled();

    await replace("Twilio failure threshold", "3");
    await waitFor(() => expect(save()).toBeEnabled());
    expect(input).toHaveAttribute("aria-invalid", "false");
    expect(input).not.toHaveAttribute("aria-describedby");
  });

  it("catches an empty or non-numeric number at once and never sends it to the backend", async () => {
    const f = await renderLoaded();
    const rate = await replace("AWS SES rate per second", "fast");
    expect(rate).toHaveAttribute("aria-invalid", "true");
    expect(description(rate)).toContain("“fast” is not a number.");
    const threshold = await replace("SMTP failure threshold", "");
    expect(description(threshold)).toContain("Enter a number.");
    await replace("Twilio cool-down seconds", "1.5");
    expect(description(screen.getByLabelText("Twilio cool-down seconds"))).toContain("Enter a whole number.");
    expect(save()).toBeDisabled();
    await waitFor(() => expect(f.checkSettings.mock.calls.length).toBeGreaterThan(1));
    for (const [draft] of f.checkSettings.mock.calls) {
      for (const p of draft.providers) {
        for (const v of [p.failure_threshold, p.open_secs, p.rate_per_second, p.cost_usd]) expect(Number.isFinite(v)).toBe(true);
      }
      expect(Number.isInteger(draft.providers[1].open_secs)).toBe(true);
    }
  });

  it("lets a warning through: a log file that does not exist yet can be saved", async () => {
    const f = await renderLoaded();
    await userEvent.click(screen.getByRole("button", { name: "Add log file" }));
    const added = screen.getByLabelText("Log file 2");
    expect(added).toHaveFocus();
    await userEvent.type(added, "/var/log/app/new.log");
    await waitFor(() => expect(description(added)).toContain("does not exist yet"));
    expect(added).toHaveAttribute("aria-invalid", "false");
    await waitFor(() => expect(save()).toBeEnabled());

    await userEvent.type(added, "{Home}x");
    await waitFor(() => expect(added).toHaveAttribute("aria-invalid", "true"));
    expect(description(added)).toContain("is relative");
    expect(save()).toBeDisabled();

    await userEvent.click(screen.getByRole("button", { name: "Remove log file 2" }));
    expect(screen.queryByLabelText("Log file 2")).not.toBeInTheDocument();
    await waitFor(() => expect(save()).toBeDisabled());
    expect(f.saveSettings).not.toHaveBeenCalled();
  });

  it("saves the edited draft and says where, with the warnings that remain", async () => {
    const onSaved = vi.fn();
    const f = fakeBackend();
    render(<Settings backend={f.backend} configPath="/home/op/.config/msgops/config.toml" onSaved={onSaved} />);
    await screen.findByLabelText("Log file 1");
    await replace("Twilio cost per message USD", "0.0083");
    await replace("Code lifetime", "2");
    await userEvent.click(screen.getByRole("button", { name: "Add log file" }));
    await userEvent.type(screen.getByLabelText("Log file 2"), "/var/log/app/new.log");
    await waitFor(() => expect(save()).toBeEnabled());
    await userEvent.click(save());

    const sent = f.saveSettings.mock.lastCall?.[0];
    expect(sent).toEqual({
      logs: { follow: ["/var/log/app/backend.log", "/var/log/app/new.log"], code_lifetime_secs: 120, patterns: [], timezone: "auto", code_length: 6 },
      providers: inForce.providers.map((p) => (p.id === "twilio" ? { ...p, cost_usd: 0.0083 } : p)),
    });
    const notice = await screen.findByRole("status");
    expect(notice).toHaveTextContent("Saved to /home/op/.config/msgops/config.toml.");
    expect(notice).toHaveTextContent("Log file 2: does not exist yet");
    expect(onSaved).toHaveBeenCalled();
    // What was saved is now what is in force.
    await waitFor(() => expect(save()).toBeDisabled());
    expect(discard()).toBeDisabled();
  });

  it("keeps the draft and shows the message when saving is refused", async () => {
    const f = await renderLoaded();
    f.saveSettings.mockRejectedValue({ code: "Validation", message: "providers.twilio.open_secs: must be between 1 and 86400 seconds" });
    const input = await replace("Twilio cool-down seconds", "120");
    await waitFor(() => expect(save()).toBeEnabled());
    await userEvent.click(save());
    expect(await screen.findByRole("alert")).toHaveTextContent("Not saved: providers.twilio.open_secs: must be between 1 and 86400 seconds");
    expect(input).toHaveValue("120");
    expect(save()).toBeEnabled();
  });

  it("discards changes back to the settings in force", async () => {
    await renderLoaded();
    await replace("Twilio failure threshold", "oops");
    await userEvent.click(screen.getByRole("button", { name: "Remove log file 1" }));
    expect(discard()).toBeEnabled();
    await userEvent.click(discard());
    expect(screen.getByLabelText("Twilio failure threshold")).toHaveValue("5");
    expect(screen.getByLabelText("Twilio failure threshold")).toHaveAttribute("aria-invalid", "false");
    expect(screen.getByLabelText("Log file 1")).toHaveValue("/var/log/app/backend.log");
    expect(discard()).toBeDisabled();
    await waitFor(() => expect(save()).toBeDisabled());
  });

  it("shows only the answer to the latest draft when answers arrive out of order", async () => {
    const f = await renderLoaded();
    let answerFirst: (p: SettingsProblem[]) => void = () => undefined;
    f.checkSettings.mockImplementationOnce(() => new Promise((resolve) => (answerFirst = resolve)));
    const input = await replace("Twilio failure threshold", "5000");
    await waitFor(() => expect(f.checkSettings.mock.lastCall?.[0].providers[1].failure_threshold).toBe(5000));
    await replace("Twilio failure threshold", "7");
    await waitFor(() => expect(f.checkSettings.mock.lastCall?.[0].providers[1].failure_threshold).toBe(7));
    await waitFor(() => expect(save()).toBeEnabled());
    // The slow answer about 5000 arrives last and is dropped.
    answerFirst([{ field: "providers.twilio.failure_threshold", severity: "error", message: "must be 1000 or less" }]);
    await new Promise((r) => setTimeout(r, 50));
    expect(input).toHaveAttribute("aria-invalid", "false");
    expect(save()).toBeEnabled();
  });

  it("keeps the lifetime in seconds when the unit changes", async () => {
    const f = await renderLoaded();
    await userEvent.selectOptions(screen.getByLabelText("Code lifetime unit"), "seconds");
    expect(screen.getByLabelText("Code lifetime")).toHaveValue("300");
    await replace("Code lifetime", "90");
    await userEvent.selectOptions(screen.getByLabelText("Code lifetime unit"), "minutes");
    expect(screen.getByLabelText("Code lifetime")).toHaveValue("1.5");
    await waitFor(() => expect(f.checkSettings.mock.lastCall?.[0].logs.code_lifetime_secs).toBe(90));
  });

  it("checks the log time zone with the backend and saves it", async () => {
    const f = await renderLoaded();
    const zone = await replace("Log time zone", "Mars/Olympus");
    await waitFor(() => expect(zone).toHaveAttribute("aria-invalid", "true"));
    expect(description(zone)).toContain("unknown time zone `Mars/Olympus`");
    expect(save()).toBeDisabled();

    await replace("Log time zone", "America/Toronto");
    await waitFor(() => expect(save()).toBeEnabled());
    expect(zone).toHaveAttribute("aria-invalid", "false");
    await userEvent.click(save());
    expect(f.saveSettings.mock.lastCall?.[0].logs).toEqual({ ...inForce.logs, timezone: "America/Toronto" });
  });

  it("sends the code length as a number, checked by the backend", async () => {
    const f = await renderLoaded();
    const length = await replace("Code length", "12");
    await waitFor(() => expect(length).toHaveAttribute("aria-invalid", "true"));
    expect(description(length)).toContain("must be between 4 and 10 digits, not 12");
    expect(f.checkSettings.mock.lastCall?.[0].logs.code_length).toBe(12);
    expect(save()).toBeDisabled();

    await replace("Code length", "");
    expect(description(length)).toContain("Enter a number.");

    await replace("Code length", "8");
    await waitFor(() => expect(save()).toBeEnabled());
    await userEvent.click(save());
    expect(f.saveSettings.mock.lastCall?.[0].logs.code_length).toBe(8);
  });
});

describe("Settings while the window is on a remote service", () => {
  it("says in its heading that these are this computer's settings", async () => {
    const f = fakeBackend();
    const { rerender } = render(<Settings backend={f.backend} />);
    expect(await screen.findByRole("heading", { level: 2 })).toHaveTextContent(/^Settings$/);
    rerender(<Settings backend={f.backend} remote />);
    expect(screen.getByRole("heading", { level: 2 })).toHaveTextContent(/^This computer's settings$/);
  });
});
