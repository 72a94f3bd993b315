"""Reading source files into lazy frames. The readers themselves are plugins
(``jobforge_source_reader``); this package holds their contract and helpers."""
