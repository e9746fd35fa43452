"""Pure ingestion domain: identifier rules, reference tables and the records parsers produce."""
