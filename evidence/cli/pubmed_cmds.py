"""PubMed commands: search, fetch, import-pubmed, records."""
