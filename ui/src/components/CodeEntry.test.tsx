import { fireEvent, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import { CodeEntry, extractCode } from "./CodeEntry";

function boxes() {
  return screen.getAllByRole("textbox") as HTMLInputElement[];
}
function values() {
  return boxes().map((b) => b.value).join("");
}

describe("extractCode", () => {
  it.each([
    ["091282", "091282"],
    [" 091 282 ", "091282"],
    ["091-282", "091282"],
    ["Your code is 091282", "091282"],
    ["Your msgops code is 091 282. It expires in 10 minutes.", "091282"],
  ])("reads %j as %s", (pasted, code) => {
    expect(extractCode(pasted)).toBe(code);
  });
  it("refuses text without six digits", () => {
    expect(extractCode("12345")).toBeNull();
    expect(extractCode("hello")).toBeNull();
  });
});

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
