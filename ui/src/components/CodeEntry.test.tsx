import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import table from "../../../crates/logwatch/testdata/paste_cases.json";
import { CodeEntry } from "./CodeEntry";

function boxes() {
  return screen.getAllByRole("textbox") as HTMLInputElement[];
}
function values() {
  return boxes().map((b) => b.value).join("");
}

describe("CodeEntry", () => {
  it("has the one-time-code hints", () => {
    render(<CodeEntry onSubmit={() => undefined} />);
    expect(boxes()[0]).toHaveAttribute("autocomplete", "one-time-code");
    for (const b of boxes()) expect(b).toHaveAttribute("inputmode", "numeric");
  });

  it.each(["091282", " 091 282 ", "091-282", "Your code is 091282"])(
    "pasting %j fills all six digits at once and submits without an error",
    (pasted) => {
      const onSubmit = vi.fn();
      render(<CodeEntry onSubmit={onSubmit} />);
      fireEvent.paste(boxes()[2], { clipboardData: { getData: () => pasted } });
      expect(values()).toBe("091282");
      expect(onSubmit).toHaveBeenCalledTimes(1);
      expect(onSubmit).toHaveBeenCalledWith("091282");
      expect(screen.queryByRole("alert")).toBeNull();
    },
  );

  // Whole log lines as support staff copy them, from the shared table: the boxes get the code,
  // not the first six digits of the date or the phone number.
  const logLines = table.cases.filter((c) => c.length === 6 && c.code !== null && c.text.includes(" - "));

  it("has log lines from the table to paste", () => {
    expect(logLines.length).toBeGreaterThanOrEqual(3);
  });

  it.each(logLines.map((c) => [c.text, c.code] as const))("pasting the log line %j fills the boxes with %s", (pasted, code) => {
    const onSubmit = vi.fn();
    render(<CodeEntry onSubmit={onSubmit} />);
    fireEvent.paste(boxes()[0], { clipboardData: { getData: () => pasted } });
    expect(values()).toBe(code);
    expect(onSubmit).toHaveBeenCalledWith(code);
    expect(document.activeElement).toBe(boxes()[5]);
  });

  it("pasting a text with no code fills nothing", () => {
    const onSubmit = vi.fn();
    render(<CodeEntry onSubmit={onSubmit} />);
    fireEvent.paste(boxes()[0], { clipboardData: { getData: () => "OTP created for phone: 4165550471" } });
    expect(values()).toBe("");
    expect(onSubmit).not.toHaveBeenCalled();
  });

  it("autofill putting a whole message in the first box fills every box with the code", () => {
    const onSubmit = vi.fn();
    render(<CodeEntry onSubmit={onSubmit} />);
    fireEvent.change(boxes()[0], { target: { value: "Code: 482 913" } });
    expect(values()).toBe("482913");
    expect(onSubmit).toHaveBeenCalledWith("482913");
  });

  it("typing advances and six digits submit on their own", async () => {
    const onSubmit = vi.fn();
    render(<CodeEntry onSubmit={onSubmit} />);
    await userEvent.click(boxes()[0]);
    await userEvent.keyboard("09128");
    expect(document.activeElement).toBe(boxes()[5]);
    expect(onSubmit).not.toHaveBeenCalled();
    await userEvent.keyboard("2");
    expect(onSubmit).toHaveBeenCalledWith("091282");
  });

  it("Backspace goes back and arrows move", async () => {
    render(<CodeEntry onSubmit={() => undefined} />);
    await userEvent.click(boxes()[0]);
    await userEvent.keyboard("123");
    expect(document.activeElement).toBe(boxes()[3]);
    await userEvent.keyboard("{Backspace}");
    expect(values()).toBe("12");
    expect(document.activeElement).toBe(boxes()[2]);
    await userEvent.keyboard("{ArrowLeft}{ArrowLeft}");
    expect(document.activeElement).toBe(boxes()[0]);
    await userEvent.keyboard("{ArrowRight}");
    expect(document.activeElement).toBe(boxes()[1]);
  });

  it("shows the error only after an explicit submit with fewer than six digits", async () => {
    const onSubmit = vi.fn();
    render(<CodeEntry onSubmit={onSubmit} />);
    await userEvent.click(boxes()[0]);
    await userEvent.keyboard("123");
    expect(screen.queryByRole("alert")).toBeNull();
    await userEvent.click(screen.getByRole("button", { name: "Check code" }));
    expect(screen.getByRole("alert")).toHaveTextContent("Please enter a 6-digit code");
    expect(onSubmit).not.toHaveBeenCalled();
  });
});
