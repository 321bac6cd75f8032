"""Browser history that behaves like a web app's: Back and Forward show the address they land on.

Streamlit reruns a page when Back changes the page, but not when it only changes the query (an error
opened on the Errors page, ``?error=...``, then Back to the list): the address changes and the screen
does not. A listener in the page reloads it on ``popstate``, so the screen follows the address
(filters included: they live in the URL).
"""

from __future__ import annotations

import streamlit.components.v1 as components

# Added once per browser tab (the flag on the page's window), from a same-origin frame of no height.
_LISTENER = """<script>
const page = window.parent;
if (!page.__fixtrailHistory) {
  page.__fixtrailHistory = true;
  page.addEventListener("popstate", () => page.location.reload());
}
</script>"""


def follow_back_and_forward() -> None:
    """Make Back and Forward show the address they land on (see the module's docstring)."""
    components.html(_LISTENER, height=0)
