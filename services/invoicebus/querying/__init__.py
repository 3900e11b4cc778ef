"""Pure read-side logic: allowed fields, the JSON query compiler, keyset cursors."""
