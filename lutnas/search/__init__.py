"""lutnas.search (see DESIGN.md)."""
