"""lutnas.devices (see DESIGN.md)."""
