import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Backend } from "../api/backend";
import type { AddConnection } from "../bindings/AddConnection";
import type { ConnectionsView } from "../bindings/ConnectionsView";
import { Connections } from "./Connections";

const FINGERPRINT = "3F:A1:9C:07:5B:E2:44:D0:8A:61:C3:9F:12:7E:B5:0D:96:2C:48:F3:AE:71:05:BB:D9:34:6A:E8:1F:C0:52:7D";
const local: ConnectionsView = { revision: 0, active: null, connections: [], status: { state: "local" } };
const withProd = (active: string | null): ConnectionsView => ({
  revision: 0,
  active,
  connections: [{ name: "prod", url: "https://backend-1.example.com:8443", fingerprint: FINGERPRINT, has_token: true }],
  status: active ? { state: "connecting" } : { state: "local" },
});

type Faked = Pick<Backend, "connectionFingerprint" | "addConnection" | "useConnection" | "removeConnection">;

function fakeBackend(overrides: Partial<Faked> = {}) {
  const backend = {
    connectionFingerprint: vi.fn<Faked["connectionFingerprint"]>(overrides.connectionFingerprint ?? (async () => FINGERPRINT)),
    addConnection: vi.fn<Faked["addConnection"]>(overrides.addConnection ?? (async (_request: AddConnection) => withProd(null))),
    useConnection: vi.fn<Faked["useConnection"]>(overrides.useConnection ?? (async (name) => withProd(name))),
    removeConnection: vi.fn<Faked["removeConnection"]>(overrides.removeConnection ?? (async () => local)),
  };
  return { ...backend, backend: backend as unknown as Backend };
}

function renderPage(f: ReturnType<typeof fakeBackend>, view: ConnectionsView = local) {
  const onView = vi.fn();
  const utils = render(<Connections backend={f.backend} view={view} onView={onView} />);
  return { ...utils, onView };
}

async function fillForm(name = "prod", url = "https://backend-1.example.com:8443", token = "msgops_tok_EXAMPLE") {
  await userEvent.type(screen.getByTestId("connection-name"), name);
  await userEvent.type(screen.getByTestId("connection-url"), url);
  await userEvent.type(screen.getByTestId("connection-token"), token);
}

describe("Connections: adding one", () => {
  it("checks the certificate, shows its fingerprint in full to compare, pins it, adds and switches to it", async () => {
    const f = fakeBackend();
    const { onView } = renderPage(f);
    await fillForm();
    expect(screen.getByTestId("connection-token")).toHaveAttribute("type", "password");
    expect(screen.queryByTestId("connection-fingerprint")).not.toBeInTheDocument();

    await userEvent.click(screen.getByTestId("connection-check"));
    expect(f.connectionFingerprint).toHaveBeenCalledWith("https://backend-1.example.com:8443");
    const shown = await screen.findByTestId("connection-fingerprint");
    expect(shown).toHaveTextContent(FINGERPRINT);
    expect(shown.tagName).toBe("PRE");
    expect(shown).toHaveClass("mono");
    expect(screen.getByText(/Compare it with the fingerprint/)).toHaveTextContent(
      "Compare it with the fingerprint msgops serve printed on the service's host.",
    );
    const pin = screen.getByLabelText("It matches — pin it");
    expect(pin).toBe(screen.getByTestId("connection-pin"));
    expect(pin).not.toBeChecked();
    await userEvent.click(pin);

    await userEvent.click(screen.getByTestId("connection-add"));
    await waitFor(() => expect(f.useConnection).toHaveBeenCalledWith("prod"));
    expect(f.addConnection).toHaveBeenCalledWith({ name: "prod", url: "https://backend-1.example.com:8443", fingerprint: FINGERPRINT, token: "msgops_tok_EXAMPLE" });
    expect(f.addConnection.mock.invocationCallOrder[0]).toBeLessThan(f.useConnection.mock.invocationCallOrder[0]);
    // Both answers go up: the list gains prod, then the window is on it.
    expect(onView).toHaveBeenNthCalledWith(1, withProd(null));
    expect(onView).toHaveBeenNthCalledWith(2, withProd("prod"));
    expect(await screen.findByTestId("connection-added")).toHaveTextContent("Added prod; the window is on it now.");
    // The form is empty again; the token is nowhere in the page.
    expect(screen.getByTestId("connection-token")).toHaveValue("");
    expect(screen.getByTestId("connection-name")).toHaveValue("");
    expect(screen.getByTestId("connection-url")).toHaveValue("");
    expect(screen.queryByTestId("connection-fingerprint")).not.toBeInTheDocument();
    expect(document.body.innerHTML).not.toContain("msgops_tok_EXAMPLE");
  });

  it("not pinned: the certificate is left to the system roots (fingerprint null)", async () => {
    const f = fakeBackend();
    renderPage(f);
    await fillForm();
    await userEvent.click(screen.getByTestId("connection-check"));
    await screen.findByTestId("connection-fingerprint");
    await userEvent.click(screen.getByTestId("connection-add"));
    await waitFor(() => expect(f.addConnection).toHaveBeenCalled());
    expect(f.addConnection.mock.lastCall?.[0].fingerprint).toBeNull();
  });

  it("a fingerprint read for another URL is dropped when the URL changes, pinned or not", async () => {
    const f = fakeBackend();
    renderPage(f);
    await fillForm();
    await userEvent.click(screen.getByTestId("connection-check"));
    await userEvent.click(await screen.findByTestId("connection-pin"));
    await userEvent.type(screen.getByTestId("connection-url"), "0");
    expect(screen.queryByTestId("connection-fingerprint")).not.toBeInTheDocument();
    expect(screen.queryByTestId("connection-pin")).not.toBeInTheDocument();
    await userEvent.click(screen.getByTestId("connection-add"));
    await waitFor(() => expect(f.addConnection).toHaveBeenCalled());
    expect(f.addConnection.mock.lastCall?.[0]).toMatchObject({ url: "https://backend-1.example.com:84430", fingerprint: null });
  });

  it("plain http on loopback has no certificate: said, nothing to pin", async () => {
    const f = fakeBackend({ connectionFingerprint: vi.fn(async () => null) });
    renderPage(f);
    await fillForm("local-serve", "http://127.0.0.1:8787");
    await userEvent.click(screen.getByTestId("connection-check"));
    expect(await screen.findByTestId("connection-no-certificate")).toHaveTextContent("no certificate to check or pin");
    expect(screen.queryByTestId("connection-pin")).not.toBeInTheDocument();
  });

  it("a refused add is shown as an alert with the backend's message, and the token is not kept", async () => {
    const refused = { code: "RemoteRefused", message: "the service refused the token: HTTP 401" };
    const f = fakeBackend({ addConnection: vi.fn(async () => Promise.reject(refused)) });
    const { onView } = renderPage(f);
    await fillForm("prod", "https://backend-1.example.com:8443", "WRONG_EXAMPLE");
    await userEvent.click(screen.getByTestId("connection-add"));
    const alert = await screen.findByRole("alert");
    expect(alert).toBe(screen.getByTestId("connection-error"));
    expect(alert).toHaveTextContent("the service refused the token: HTTP 401");
    expect(f.useConnection).not.toHaveBeenCalled();
    expect(onView).not.toHaveBeenCalled();
    expect(screen.getByTestId("connection-token")).toHaveValue("");
    // What was typed besides the token stays, to try again.
    expect(screen.getByTestId("connection-name")).toHaveValue("prod");
    expect(screen.getByTestId("connection-url")).toHaveValue("https://backend-1.example.com:8443");
  });

  it("a certificate that cannot be read is shown as an alert", async () => {
    const f = fakeBackend({ connectionFingerprint: vi.fn(async () => Promise.reject({ code: "RemoteUnreachable", message: "cannot reach backend-1.example.com:8443: connection refused" })) });
    renderPage(f);
    await fillForm();
    await userEvent.click(screen.getByTestId("connection-check"));
    expect(await screen.findByTestId("connection-error")).toHaveTextContent("cannot reach backend-1.example.com:8443: connection refused");
    expect(screen.queryByTestId("connection-fingerprint")).not.toBeInTheDocument();
  });

  it("added but not switched to: both said", async () => {
    const f = fakeBackend({ useConnection: vi.fn(async () => Promise.reject({ code: "Internal", message: "no such connection" })) });
    renderPage(f);
    await fillForm();
    await userEvent.click(screen.getByTestId("connection-add"));
    expect(await screen.findByTestId("connection-error")).toHaveTextContent("Added prod, but could not switch to it: no such connection");
  });

  it("asks for every field, and refuses a name already saved, before anything is sent", async () => {
    const f = fakeBackend();
    renderPage(f, withProd(null));
    await userEvent.type(screen.getByTestId("connection-name"), "prod");
    await userEvent.click(screen.getByTestId("connection-add"));
    expect(screen.getByTestId("connection-error")).toHaveTextContent("Enter a name, the service's URL and an API token.");
    await userEvent.type(screen.getByTestId("connection-url"), "https://other.example.com");
    await userEvent.type(screen.getByTestId("connection-token"), "tok_EXAMPLE");
    await userEvent.click(screen.getByTestId("connection-add"));
    expect(screen.getByTestId("connection-error")).toHaveTextContent("There is already a connection named prod.");
    expect(f.addConnection).not.toHaveBeenCalled();
  });
});

describe("Connections: the list", () => {
  afterEach(() => vi.restoreAllMocks());

  it("shows each connection's URL and trust: the pinned fingerprint shortened, in full on demand; system roots; plain http", () => {
    const f = fakeBackend();
    const view: ConnectionsView = {
      revision: 0,
      active: "prod",
      status: { state: "connected", since: "2025-10-29T16:34:53Z" },
      connections: [
        { name: "prod", url: "https://backend-1.example.com:8443", fingerprint: FINGERPRINT, has_token: true },
        { name: "eu", url: "https://msgops.eu.example.com", fingerprint: null, has_token: true },
        { name: "here", url: "http://127.0.0.1:8787", fingerprint: null, has_token: false },
      ],
    };
    renderPage(f, view);
    const prod = screen.getByTestId("connection-row-prod");
    expect(prod).toHaveTextContent("prod");
    expect(prod).toHaveTextContent("in use");
    expect(prod).toHaveTextContent("https://backend-1.example.com:8443");
    const summary = within(prod).getByText("pinned 3F:A1:9C:07:…");
    expect(summary).toHaveAttribute("title", FINGERPRINT);
    expect(prod.querySelector("details code")).toHaveTextContent(FINGERPRINT);
    expect(within(prod).queryByTestId("connection-use-prod")).not.toBeInTheDocument();
    expect(screen.getByTestId("connection-row-eu")).toHaveTextContent("system roots");
    expect(screen.getByTestId("connection-row-here")).toHaveTextContent("plain http on loopback");
    expect(screen.getByTestId("connection-row-here")).toHaveTextContent("none stored");
  });

  it("removes after confirmation only", async () => {
    const f = fakeBackend();
    const { onView } = renderPage(f, withProd("prod"));
    const confirm = vi.spyOn(window, "confirm").mockReturnValueOnce(false).mockReturnValueOnce(true);
    await userEvent.click(screen.getByTestId("connection-remove-prod"));
    expect(confirm).toHaveBeenLastCalledWith("Remove the connection prod? Its token is forgotten and the window returns to this computer.");
    expect(f.removeConnection).not.toHaveBeenCalled();
    await userEvent.click(screen.getByTestId("connection-remove-prod"));
    await waitFor(() => expect(f.removeConnection).toHaveBeenCalledWith("prod"));
    expect(onView).toHaveBeenCalledWith(local);
  });

  it("a removal the backend refuses is shown", async () => {
    const f = fakeBackend({ removeConnection: vi.fn(async () => Promise.reject({ code: "NotFound", message: "no connection prod" })) });
    renderPage(f, withProd(null));
    vi.spyOn(window, "confirm").mockReturnValue(true);
    await userEvent.click(screen.getByTestId("connection-remove-prod"));
    expect(await screen.findByTestId("connection-list-error")).toHaveTextContent("no connection prod");
  });
});
