## Typed links between any two records, shown on both sides.
