"""lutnas.profiler (see DESIGN.md)."""
