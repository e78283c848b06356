"""The patient portal's web pages (issue 16): a small client of our own API, served by Limber.

The pages hold no rule of their own: every read and write goes through ``/api/v1/portal/*`` and ``/api/v1/auth/*``
from the browser (``urls.py``, the app shell and its ES modules). ``print_urls.py`` is the printable program, the
same template the PDF endpoints render.
"""
