"""Stage 0, input: transcript files in any supported format to the canonical `model.Corpus`.

- `inputs`: `InputSpec` (a file, folder or glob and its source), the parsing the CLI and the
  Data page share, and `load_inputs` (repeats, `--sample`).
- `loaders`: `load_file` / `load_paths` / `sniff_format` for one file or a list of files.
- `registry`: the format registry; `formats/` holds one module per format, each registering
  itself (adding a format is one new module there).
- `reading`: what a file is and its records one at a time (JSONL, JSON, Parquet, gzip).
- `records`: the helpers every format shares (fields, roles, chat messages, ids).
"""
