"""The interactive API documentation works in a browser and reaches no outside host."""

from __future__ import annotations

from urllib.parse import urlsplit


def test_api_docs_render_swagger_ui_listing_the_operations_without_outside_requests(page, live_server):
    # Reached under a name that is not localhost, as users reach it: Swagger UI
    # only calls out (its online validator badge) for such addresses.
    base = live_server.public_url
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    response = page.goto(f"{base}/api/v1/docs")
    assert response is not None and response.status == 200

    # Swagger UI ran: it fetched the document and drew a section per tag.
    page.locator("#operations-tag-program").wait_for(state="visible", timeout=15_000)
    assert page.locator(".swagger-ui .info .title").inner_text().startswith("Coalition loyalty API")
    program_get = page.locator(".opblock-get .opblock-summary-path[data-path='/api/v1/program']")
    program_get.wait_for(state="visible")
    page.wait_for_load_state("networkidle")

    assert f"{base}/api/v1/openapi.json" in requested
    own_host = urlsplit(base).hostname
    outside = [
        url
        for url in requested
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).hostname != own_host
    ]
    assert not outside, f"the docs page reached outside hosts: {outside}"
