"""Browser history that behaves like a web app's: Back and Forward show the address they land on.

Streamlit reruns a page when Back changes the page, but not when it only changes the query (an error
opened on the Errors page, ``?error=...``, then Back to the list): the address changes and the screen
does not. A listener in the page reloads it on ``popstate``, so the screen follows the address
(filters included: they live in the URL).

It also opens the tables' links (dashboard.links) in the same tab: a table's link cell asks for a new
tab (``window.open(url, "_blank")``); an address of this app is opened in place instead, so that Back
returns to the list, unless Ctrl, Cmd or Shift was held or the middle button used, as a browser does.
"""

from __future__ import annotations

import streamlit as st

# Added once per browser tab (the flag on the page's window), from a same-origin frame of no height.
_LISTENER = """<script>
const page = window.parent;
const where = () => page.location.pathname + page.location.search;
if (!page.__fixtrailHistory) {
  page.__fixtrailHistory = where();
  // Remember each address the app moves to, so that Back can tell a new address from a move within the page.
  for (const name of ["pushState", "replaceState"]) {
    const original = page.history[name].bind(page.history);
    page.history[name] = (...args) => {
      const result = original(...args);
      page.__fixtrailHistory = where();
      return result;
    };
  }
  page.addEventListener("popstate", () => {
    if (where() !== page.__fixtrailHistory) page.location.reload();  // not for an #anchor in the page
  });
  // A table's link cell opens a new tab: this app's own addresses open in place instead.
  let newTabAsked = false;
  const remember = (event) => {
    newTabAsked = event.ctrlKey || event.metaKey || event.shiftKey || event.button === 1;
  };
  page.document.addEventListener("pointerdown", remember, true);
  page.document.addEventListener("keydown", remember, true);
  const openTab = page.open.bind(page);
  page.open = (url, target, features) => {
    try {
      const address = new URL(String(url), page.location.href);
      if (target === "_blank" && !newTabAsked && address.origin === page.location.origin) {
        // Followed as a link of the page itself: this frame may not navigate the page (its sandbox).
        const link = page.document.createElement("a");
        link.href = address.href;
        page.document.body.appendChild(link);
        link.click();
        link.remove();
        return null;
      }
    } catch (error) {}
    return openTab(url, target, features);
  };
}
</script>"""


def follow_back_and_forward() -> None:
    """Make Back and Forward show the address they land on (see the module's docstring)."""
    st.iframe(_LISTENER, height=1)  # HTML in a same-origin frame: its script reaches the page
