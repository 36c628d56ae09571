"""What users declare and Amber persists: field types, enums' stable names, schemas and
fingerprints, records and the registry, amber.Table, the JSON rendering. Pure: imports
nothing of Amber but its errors.

One layer of docs/architecture.md: it imports only the layers below it."""
