"""lutnas.analysis (see DESIGN.md)."""
