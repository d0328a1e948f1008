"""Stage 0, input: transcript files in any supported format to the canonical `model.Corpus`.

`loaders.load_file` sniffs or takes the format and returns a `Corpus` plus every skipped record.
"""
