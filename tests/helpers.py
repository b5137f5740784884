"""Test helpers: scripted models that play reference solutions, and a fake OpenAI-compatible server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from environments.fhir.reference import reference_actions
from grasp.models import ScriptedModel
from grasp.tasks import Task


def reference_model(tasks: list[Task], *, broken: Callable[[Task], bool] = lambda task: False) -> ScriptedModel:
    """A scripted model that plays each task's reference actions (or answers wrongly where ``broken``).

    It finds its task from the instruction in the first user message and its
    position from the number of replies so far.
    """
    by_instruction = {task.instruction: task for task in tasks}

    def reply(messages: list[dict[str, str]]) -> str:
        first_user = messages[1]["content"]
        task = next(t for instruction, t in by_instruction.items() if instruction in first_user)
        if broken(task):
            return 'FINISH(["I do not know"])'
        actions = [a for a in reference_actions(task) if not a.startswith("STOP ")]
        turn = sum(1 for m in messages if m["role"] == "assistant")
        return actions[min(turn, len(actions) - 1)]

    return ScriptedModel(reply, name="reference")


@contextmanager
def serve(app: Starlette) -> Iterator[str]:
    """Run ``app`` over real HTTP on a free port; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 10
    while not server.started and time.time() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


class FakeOpenAI:
    """An OpenAI-compatible chat server whose replies follow a plan of failures, then ``text``."""

    def __init__(self, plan: list[str] | None = None, text: str | Callable[[list[dict]], str] = "FINISH([1])",
                 refuse: Callable[[dict], tuple[int, str] | None] = lambda body: None) -> None:
        self.plan = list(plan or [])
        self.text = text
        self.refuse = refuse  # a request it does not take: (status, the server's words), as a real server says it
        self.requests: list[dict] = []
        self.headers: list[dict] = []

    def app(self) -> Starlette:
        async def completions(request: Request) -> Response:
            body = await request.json()
            self.requests.append(body)
            self.headers.append(dict(request.headers))
            refusal = self.refuse(body)
            if refusal is not None:
                return JSONResponse({"error": {"message": refusal[1]}}, status_code=refusal[0])
            step = self.plan.pop(0) if self.plan else "ok"
            if step == "429":
                return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "0"})
            if step == "500":
                return JSONResponse({"error": "boom"}, status_code=500)
            if step == "sleep":
                import asyncio

                await asyncio.sleep(3)
            if step == "malformed":
                return Response("{not json", media_type="application/json")
            text = self.text(body["messages"]) if callable(self.text) else self.text
            return JSONResponse({
                "id": "x", "object": "chat.completion", "model": body["model"],
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
            })

        return Starlette(routes=[Route("/v1/chat/completions", completions, methods=["POST"])])



def traced(*turns: tuple[str, str, bool], answer: list | None = None) -> list:
    """An episode's trace from (action, what the environment answered, accepted) triples; with ``answer``, the
    last turn is the answer that ended it."""
    from grasp.trace import Action, Step, Turn

    trace = [Turn(action=Action(text=text), step=Step(observation=said, failed=not ok)) for text, said, ok in turns]
    if answer is not None and trace:
        trace[-1].step = trace[-1].step.model_copy(update={"done": True, "answer": answer, "observation": ""})
    return trace
