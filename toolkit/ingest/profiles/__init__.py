"""Built-in site profiles for `toolkit.ingest.text` (YAML data files; see `load_profile`)."""
