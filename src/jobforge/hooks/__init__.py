"""The plugin system: markers, hook specifications, the manager factory and a typed facade."""
