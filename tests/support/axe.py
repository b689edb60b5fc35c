"""axe-core (the copy shipped in axe-playwright-python) run inside a Playwright page."""

from axe_playwright_python.sync_playwright import Axe

_axe = Axe()


def assert_accessible(page) -> None:
    """No axe-core violation on the page as it is now."""
    results = _axe.run(page)
    assert results.violations_count == 0, results.generate_report()
