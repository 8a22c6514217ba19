"""lutnas.luts (see DESIGN.md)."""
