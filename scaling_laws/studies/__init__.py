"""Studies: the registry of named studies, the derived-field table, building, loading and listing them."""
