--- Placeholder: filled in by its owner (exposed as loom.fs).
return {}
