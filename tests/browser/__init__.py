"""Browser tests (issue 15, item 7): Playwright driving the system Chromium against a live server, at 1366×768.

``conftest.py`` finds Chromium (or skips, outside CI, naming the install command), starts one browser for the whole
package and gives each test a fresh context; ``pages.py`` holds what a person does (log in, follow links) and the
screenshots, written to a folder the run prints.
"""
