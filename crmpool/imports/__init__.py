"""Import (导入): files in, all or nothing.

`sources` reads CSV, TSV, JSON and JSON lines in the encodings Excel and WPS write, with size
limits; `fields` maps headers to fields and cleans cells; `rows` turns a customer row into the
one INSERT SQLite evaluates (and explains a refused row in Python); `importer` runs a
customers import and settles duplicates, caps and freezes in SQL; `activity` imports contacts
and deals. They use the domain below them (normalize, values, when, store) and nothing above.
"""
