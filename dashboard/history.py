"""Browser history that behaves like a web app's: Back and Forward show the address they land on.

Streamlit reruns a page when Back changes the page, but not when it only changes the query (an error
opened on the Errors page, ``?error=...``, then Back to the list): the address changes and the screen
does not. A listener in the page reloads it on ``popstate``, so the screen follows the address
(filters included: they live in the URL).

It also opens the tables' links (dashboard.links) in the same tab: a table's link cell asks for a new
tab (``window.open(url, "_blank")``); an address of this app is opened in place instead, so that Back
returns to the list, unless Ctrl, Cmd or Shift was held (a new tab, as a browser does).
"""

from __future__ import annotations

import json

import streamlit as st

from dashboard import links

# From a same-origin frame of no height; its state is kept on the page's window.
_LISTENER = """<script>
const APP_PATH = __APP_PATH__;  // the app's own addresses: only these open in place
const page = window.parent;
const where = () => page.location.pathname + page.location.search;
// Installed again by each frame Streamlit draws: the functions of a frame it replaced (the sidebar
// above it changed) live in a realm that is gone, so they are taken out and the page's own put back.
const previous = page.__fixtrailHistory;
const native = previous ? previous.native : {
  pushState: page.history.pushState, replaceState: page.history.replaceState, open: page.open,
};
if (previous) {
  page.removeEventListener("popstate", previous.onPopState);
  page.document.removeEventListener("pointerdown", previous.remember, true);
  page.document.removeEventListener("keydown", previous.remember, true);
}
const state = {native, address: where()};
// Remember each address the app moves to, so that Back can tell a new address from a move within the page.
for (const name of ["pushState", "replaceState"]) {
  page.history[name] = (...args) => {
    const result = native[name].apply(page.history, args);
    state.address = where();
    return result;
  };
}
state.onPopState = () => {
  if (where() !== state.address) page.location.reload();  // not for an #anchor in the page
};
page.addEventListener("popstate", state.onPopState);
// A table's link cell opens a new tab: this app's own addresses open in place instead.
let newTabAsked = false;
state.remember = (event) => {
  newTabAsked = event.ctrlKey || event.metaKey || event.shiftKey;
};
page.document.addEventListener("pointerdown", state.remember, true);
page.document.addEventListener("keydown", state.remember, true);
page.open = (url, target, features) => {
  try {
    const address = new page.URL(String(url), page.location.href);
    const ours = address.origin === page.location.origin && address.pathname.startsWith(APP_PATH);
    if (target === "_blank" && !newTabAsked && ours) {
      // Followed as a link of the page itself: this frame may not navigate the page (its sandbox).
      const link = page.document.createElement("a");
      link.href = address.href;
      page.document.body.appendChild(link);
      link.click();
      link.remove();
      return null;
    }
  } catch (error) {}
  return native.open.call(page, url, target, features);
};
page.__fixtrailHistory = state;
</script>"""


def install_navigation() -> None:
    """Make Back and Forward show the address they land on, and the tables' links open in the same tab
    (see the module's docstring). Drawn first in the sidebar, before anything that may stop a run: a
    run that left it out would take the listener's frame away."""
    script = _LISTENER.replace("__APP_PATH__", json.dumps(links.app_path("")))
    st.iframe(script, height=1)  # HTML in a same-origin frame: its script reaches the page
