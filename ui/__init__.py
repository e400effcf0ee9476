"""The chat web UI (Gradio), a thin adapter over the public `qa` API."""
