"""The PubMed layer: search for new studies, fetch and parse metadata, cache it, classify it,
and turn a record into rows a reviewer completes for the curated tables.

A pure library (no workflow-engine imports): functions take data and return data, and file or
network I/O stays at the edges (`client`, `cache`, `extraction`). Modules:

- `records`: the normalized `PubmedRecord`
- `parse`: streaming parser for PubMed/MEDLINE XML and MEDLINE text
- `client`, `ratelimit`: the E-utilities client and its thread-safe rate limiter
- `secrets`: scrubbing the NCBI key and email from anything logged, stored or reported
- `cache`: one JSON file per PMID, written atomically
- `snapshot`: cache records seeded from the curated tables
- `search`: incremental searches, their state and the screening queue
- `resolve`: PMIDs for studies and citations that lack one
- `classify`: study design from publication types and MeSH
- `extraction`: a record as rows a reviewer completes, and completed rows into the tables
"""
