"""The Textual interface: renders what the engine reports and sends it commands (see DESIGN.md)."""
