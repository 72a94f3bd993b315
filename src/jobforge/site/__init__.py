"""The catalog site: a static website of the catalog and its lineage.

- :mod:`jobforge.site.model` gathers what the site shows, from the catalog only
  (example values through the catalog's rule, :mod:`jobforge.catalog.governance`);
- :mod:`jobforge.site.build` writes the site (pages, the model, the vendored
  graph library) into a folder that opens from disk;
- :mod:`jobforge.site.serve` serves a built site on localhost.
"""
