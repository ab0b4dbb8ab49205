"""HTTP and the command line: routes, settings, URL building, tokens, the review page."""
