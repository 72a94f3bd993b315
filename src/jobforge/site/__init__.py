"""The catalog site: a static website of the catalog and its lineage.

- :mod:`jobforge.site.model` gathers what the site shows, from the catalog only;
- :mod:`jobforge.site.redaction` decides which example values may be shown;
- :mod:`jobforge.site.build` writes the site (pages, the model, the vendored
  graph library) into a folder that opens from disk;
- :mod:`jobforge.site.serve` serves a built site on localhost.
"""
