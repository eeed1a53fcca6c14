"""What a run reads: the protocol, the curated tables and documents, their checks and changes.

- `protocol`: the review protocol, as data (one YAML file per drug)
- `schemas`, `validate`: row schemas of the input tables, and every file checked in one pass
- `documents`: the article's claims and its citation map
- `snapshot`: a protocol's validated inputs as typed tables
- `regimen`: daily doses read strictly from regimen text
- `importer`: a curated evidence set brought into a project's data directory
- `rawdata`: changes to the curated tables, all files of one change or none
"""
