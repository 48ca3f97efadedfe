"""The demo: a small company's backends and the scripted end-to-end story."""
