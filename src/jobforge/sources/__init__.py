"""Reading source files into Arrow record streams. The readers themselves are plugins
(``jobforge_source_reader``); this package holds their contract and helpers."""
