"""Chat templates rendered for a server: in a helper process with a time and a memory limit.

A server renders templates it did not write (`--chat-template`, or a request's `chat_template`). A template can loop
for hours or build a string of many gigabytes; rendering in-process would stall every request with it. Here each
render runs in a long-lived child process (`python -m henkan.serving.templates`, speaking JSON lines) whose address
space is capped; a render that runs past its time limit kills the child, which is started again for the next
request. The rendering itself is henkan's sandboxed chat template renderer, so the text is byte-identical to
`apply_chat_template`.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading

__all__ = ["TemplateRenderer", "TemplateError"]


_STARTUP_SECONDS = 60


class TemplateError(ValueError):
    """A chat template failed to render: it raised, broke the sandbox's rules, or ran out of time or memory."""


class TemplateRenderer:
    """Render chat templates in a child process: at most `timeout` seconds, `memory_mb` megabytes and
    `max_chars` characters of output per render. Thread-safe (renders are serialised: each takes well under a
    millisecond)."""

    def __init__(self, timeout: float = 2.0, memory_mb: int = 1024, max_chars: int = 4_000_000):
        self.timeout, self.memory_mb, self.max_chars = timeout, memory_mb, max_chars
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None

    def _start(self) -> subprocess.Popen:
        package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        process = subprocess.Popen([sys.executable, "-m", "henkan.serving.templates", str(self.memory_mb),
                                    str(self.max_chars)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=env, bufsize=0)
        # The child says when its imports are done, so that a busy machine's slow start is not counted against the
        # first template's time limit.
        ready, _, _ = select.select([process.stdout], [], [], _STARTUP_SECONDS)
        if not ready or not process.stdout.readline():
            process.kill()
            process.wait()
            raise TemplateError(f"The chat template renderer (a child process) did not start within "
                                f"{_STARTUP_SECONDS} s.")
        return process

    def start(self) -> None:
        """Start the child now (it takes a moment to import), rather than at the first render."""
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def render(self, template: str, messages: list, *, tools=None, documents=None, add_generation_prompt=False,
               continue_final_message=False, variables: dict | None = None) -> str:
        """The rendered text; raises TemplateError with the reason (the template's own message included)."""
        job = json.dumps({"template": template, "messages": messages, "tools": tools, "documents": documents,
                          "add_generation_prompt": add_generation_prompt,
                          "continue_final_message": continue_final_message, "variables": variables or {}})
        with self._lock:
            if self._process is None or self._process.poll() is not None:
                self._process = self._start()
            process = self._process
            try:
                process.stdin.write(job.encode() + b"\n")
                ready, _, _ = select.select([process.stdout], [], [], self.timeout)
                line = process.stdout.readline() if ready else b""
            except (BrokenPipeError, OSError):
                line, ready = b"", True
            if not line:
                self._stop()
                if not ready:
                    raise TemplateError(f"The chat template did not finish rendering within {self.timeout:g} s "
                                        f"(a loop that runs too long?); rendering was stopped.")
                raise TemplateError(f"The chat template could not be rendered: the renderer ran out of its "
                                    f"{self.memory_mb} MB of memory or crashed.")
        reply = json.loads(line)
        if "error" in reply:
            raise TemplateError(reply["error"])
        return reply["text"]


def _serve(memory_mb: int, max_chars: int) -> None:
    """The child: read one JSON job a line, write one JSON reply a line."""
    import resource

    from ..tokenization.chat import render_chat_template

    try:
        with open("/proc/self/statm") as f:
            current = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        current = 0
    limit = current + memory_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    render_chat_template("{{ messages[0]['content'] }}", [{"role": "user", "content": ""}])  # imports Jinja
    out = sys.stdout.buffer
    out.write(b'{"ready": true}\n')
    out.flush()
    for line in sys.stdin.buffer:
        try:
            job = json.loads(line)
            text = render_chat_template(job["template"], job["messages"], tools=job["tools"],
                                        documents=job["documents"],
                                        add_generation_prompt=job["add_generation_prompt"],
                                        continue_final_message=job["continue_final_message"], **job["variables"])
            if len(text) > max_chars:
                reply = {"error": f"The chat template rendered {len(text)} characters, more than the limit of "
                                  f"{max_chars}."}
            else:
                reply = {"text": text}
        except MemoryError:
            reply = {"error": f"The chat template used more than the renderer's {memory_mb} MB of memory (a string "
                              f"or list that grows without bound?)."}
        except RecursionError:
            reply = {"error": "The chat template recursed too deeply (a macro that calls itself without end?)."}
        except Exception as e:  # the template's own errors: raise_exception, undefined names, sandbox refusals
            reply = {"error": f"The chat template failed: {type(e).__name__}: {e}"}
        out.write(json.dumps(reply).encode() + b"\n")
        out.flush()


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]))
