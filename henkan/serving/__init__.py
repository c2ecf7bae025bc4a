"""`henkan serve`: an OpenAI-compatible server with continuous batching.

`engine` (the scheduler over a slot cache, per-request sampling), `protocol` (the OpenAI wire format), `templates`
(chat templates rendered in a bounded child process) and `app` (the FastAPI routes). FastAPI and uvicorn are the
`serve` extra: `pip install 'henkan[serve]'`; nothing here is imported by `import henkan`.
"""
