"""The reference of the desktop benchmark: the smallest WebKitGTK program that shows the same
built UI (ui/dist) in a window of the same size — no Rust, no backend, no data. Prints
`mapped` when its window is on screen and `loaded` when the page finished loading."""

import sys
import time

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import Gtk, WebKit2  # noqa: E402

started = time.monotonic()


def say(what: str) -> None:
    print(f"{what} {int((time.monotonic() - started) * 1000)}", flush=True)


window = Gtk.Window(title="reference webview")
window.set_default_size(1280, 820)
view = WebKit2.WebView()
view.connect("load-changed", lambda _v, e: e == WebKit2.LoadEvent.FINISHED and say("loaded"))
window.connect("map-event", lambda *_: say("mapped"))
window.connect("destroy", Gtk.main_quit)
window.add(view)
view.load_uri(sys.argv[1])
window.show_all()
Gtk.main()
