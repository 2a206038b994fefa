"""A scripted model on 127.0.0.1 for driving a real agent CLI without an account.

    python3 scripted_model.py WIRE PLAN.json LOG.jsonl PORTFILE

WIRE is the API the CLI speaks: `responses` (OpenAI Responses API, Codex), `chat` (OpenAI
chat completions, OpenCode's openai-compatible provider) or `anthropic` (the Messages API with
its SSE stream, Claude Code via ANTHROPIC_BASE_URL). The plan is a list of steps, one per
model turn: {"tool": NAME, "args": {...}} calls the CLI's tool whose name is NAME or ends in
`_NAME` (an MCP tool the CLI namespaced), {"say": TEXT} answers and ends the turn. The step
taken is the number of tool results already in the request, so each tool result moves the
script on. In args and text, {task_id} is the id from the last "Task ID started" tool result
and {last_output} that result's text. Every request is appended to LOG as one JSON line
({"t": unix time, "path", "body"}) before it is answered: the test sees what reached the model
and when. A request that offers no tools (a CLI asking for a session title) is answered
"Scripted title". The port goes to PORTFILE once the server listens.
"""

import json
import os
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WIRE, PLAN, LOG, PORTFILE = sys.argv[1:5]
with open(PLAN, encoding="utf-8") as f:
    _plan = json.load(f)
STEPS = _plan.get("steps", [])
# {"cycle": {"tool": …, "args": …, "say": …}}: every prompt of the user's calls the tool, every
# tool result and every notice of paneherd's is answered with `say` (for many rounds in one
# session).
CYCLE = _plan.get("cycle")


def cycle_step(body):
    last = (body.get("messages") or [{}])[-1]
    if last.get("role") == "tool":
        return {"say": CYCLE["say"]}
    content = last.get("content")
    blocks = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
    answered = any(isinstance(b, dict) and b.get("type") == "tool_result" for b in blocks)
    told = "[BACKGROUND TASK" in json.dumps(content)
    if answered or told:
        return {"say": CYCLE["say"]}
    return {"tool": CYCLE["tool"], "args": CYCLE.get("args", {})}
LOCK = threading.Lock()


def text_of(output):
    """A tool result's text: a string, or a list of content parts."""
    if isinstance(output, str):
        return output
    if isinstance(output, list):
        return "".join(p.get("text", "") for p in output if isinstance(p, dict))
    return json.dumps(output)


def tool_results(body):
    """The texts of the tool results in the request, in order."""
    if WIRE == "responses":
        items = body.get("input") or []
        return [text_of(i.get("output")) for i in items
                if isinstance(i, dict) and i.get("type") == "function_call_output"]
    msgs = body.get("messages") or []
    if WIRE == "anthropic":
        out = []
        for m in msgs:
            if m.get("role") == "user" and isinstance(m.get("content"), list):
                out += [text_of(b.get("content")) for b in m["content"]
                        if isinstance(b, dict) and b.get("type") == "tool_result"]
        return out
    return [text_of(m.get("content")) for m in msgs if m.get("role") == "tool"]


def find_tool(body, want):
    """(namespace, name) of the tool the CLI offers under `want`."""
    def matches(name):
        return name == want or name.endswith("_" + want)

    for t in body.get("tools") or []:
        if WIRE == "anthropic":
            if matches(t.get("name", "")):
                return None, t["name"]
            continue
        if WIRE == "chat":
            name = (t.get("function") or {}).get("name", "")
            if matches(name):
                return None, name
            continue
        name = t.get("name", "")
        if t.get("type") == "namespace":
            for inner in t.get("tools") or []:
                if matches(inner.get("name", "")):
                    return name, inner["name"]
        elif matches(name):
            return None, name
    names = [t.get("name") or (t.get("function") or {}).get("name") for t in body.get("tools") or []]
    raise LookupError(f"no tool {want!r} among {names}")


def fill(value, ctx):
    if isinstance(value, str):
        return value.replace("{task_id}", ctx["task_id"]).replace("{last_output}", ctx["last_output"])
    if isinstance(value, dict):
        return {k: fill(v, ctx) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, ctx) for v in value]
    return value


def responses_events(step, body, ctx, n):
    rid = f"resp_{n}"
    events = [{"type": "response.created", "response": {"id": rid}}]
    if "tool" in step:
        ns, name = find_tool(body, step["tool"])
        item = {"type": "function_call", "call_id": f"call_{n}", "name": name,
                "arguments": json.dumps(fill(step.get("args", {}), ctx))}
        if ns:
            item["namespace"] = ns
        events.append({"type": "response.output_item.done", "item": item})
    else:
        text = fill(step["say"], ctx)
        events.append({"type": "response.output_item.done", "item": {
            "type": "message", "role": "assistant", "id": f"msg_{n}",
            "content": [{"type": "output_text", "text": text}]}})
    usage = {"input_tokens": 10, "input_tokens_details": None, "output_tokens": 5,
             "output_tokens_details": None, "total_tokens": 15}
    events.append({"type": "response.completed", "response": {"id": rid, "usage": usage}})
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


def chat_events(step, body, ctx, n):
    base = {"id": f"chatcmpl_{n}", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model", "scripted")}

    def chunk(delta, finish=None):
        c = dict(base, choices=[{"index": 0, "delta": delta, "finish_reason": finish}])
        return f"data: {json.dumps(c)}\n\n"

    out = [chunk({"role": "assistant", "content": ""})]
    if "tool" in step:
        _, name = find_tool(body, step["tool"])
        call = {"index": 0, "id": f"call_{n}", "type": "function",
                "function": {"name": name, "arguments": json.dumps(fill(step.get("args", {}), ctx))}}
        out.append(chunk({"tool_calls": [call]}))
        out.append(chunk({}, "tool_calls"))
    else:
        out.append(chunk({"content": fill(step["say"], ctx)}))
        out.append(chunk({}, "stop"))
    usage = dict(base, choices=[], usage={"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15})
    out.append(f"data: {json.dumps(usage)}\n\n")
    out.append("data: [DONE]\n\n")
    return "".join(out)


def anthropic_events(step, body, ctx, n):
    def ev(kind, data):
        data = dict(data, type=kind)
        return f"event: {kind}\ndata: {json.dumps(data)}\n\n"

    usage = {"input_tokens": 10, "output_tokens": 1}
    msg = {"id": f"msg_{n}", "type": "message", "role": "assistant", "model": body.get("model", "scripted"),
           "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
    out = [ev("message_start", {"message": msg})]
    if "tool" in step:
        _, name = find_tool(body, step["tool"])
        block = {"type": "tool_use", "id": f"toolu_{n:04d}", "name": name, "input": {}}
        out.append(ev("content_block_start", {"index": 0, "content_block": block}))
        args = json.dumps(fill(step.get("args", {}), ctx))
        out.append(ev("content_block_delta", {"index": 0, "delta": {"type": "input_json_delta", "partial_json": args}}))
        stop = "tool_use"
    else:
        out.append(ev("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}))
        out.append(ev("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": fill(step["say"], ctx)}}))
        stop = "end_turn"
    out.append(ev("content_block_stop", {"index": 0}))
    out.append(ev("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": {"output_tokens": 5}}))
    out.append(ev("message_stop", {}))
    return "".join(out)


def anthropic_message(step, body, ctx, n):
    """A whole (not streamed) Messages API reply, for requests with `stream` false."""
    text = fill(step.get("say", "ok"), ctx)
    return json.dumps({"id": f"msg_{n}", "type": "message", "role": "assistant",
                       "model": body.get("model", "scripted"), "content": [{"type": "text", "text": text}],
                       "stop_reason": "end_turn", "stop_sequence": None,
                       "usage": {"input_tokens": 10, "output_tokens": 5}})


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    count = 0

    def log_message(self, *args):
        pass

    def record(self, body):
        with LOCK:
            with open(LOG, "a", encoding="utf-8") as f:
                f.write(json.dumps({"t": time.time(), "path": self.path, "body": body}) + "\n")

    def reply(self, code, ctype, data):
        raw = data.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self):
        self.record(None)
        if self.path.rstrip("/").endswith("/models"):
            self.reply(200, "application/json", json.dumps(
                {"object": "list", "data": [{"id": "scripted", "object": "model"}]}))
        else:
            self.reply(404, "application/json", "{}")

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = {"unparsed": raw.decode("utf-8", "replace")}
        self.record(body)
        path = self.path.split("?")[0]
        if path.endswith("/count_tokens"):
            self.reply(200, "application/json", json.dumps({"input_tokens": 10}))
            return
        if not (path.endswith("/responses") or path.endswith("/chat/completions")
                or path.endswith("/messages")):
            self.reply(404, "application/json", "{}")
            return
        results = tool_results(body)
        ctx = {"task_id": "", "last_output": results[-1] if results else ""}
        for r in results:
            m = re.search(r"Task (\S+) started", r)
            if m:
                ctx["task_id"] = m.group(1)
        step = STEPS[len(results)] if len(results) < len(STEPS) else {"say": "done"}
        if CYCLE:
            step = cycle_step(body)
        # A request that offers no tools is the CLI's own errand (OpenCode's session title):
        # answered in words, it does not move the script.
        if not body.get("tools"):
            step = {"say": "Scripted title"}
        with LOCK:
            Handler.count += 1
            n = Handler.count
        if WIRE == "anthropic" and not body.get("stream"):
            self.reply(200, "application/json", anthropic_message(step, body, ctx, n))
            return
        events = {"responses": responses_events, "chat": chat_events, "anthropic": anthropic_events}
        try:
            data = events[WIRE](step, body, ctx, n)
        except LookupError as e:
            self.reply(400, "application/json", json.dumps({"error": {"message": str(e)}}))
            return
        self.reply(200, "text/event-stream", data)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(PORTFILE + ".tmp", "w", encoding="utf-8") as f:
    f.write(str(server.server_address[1]))
os.replace(PORTFILE + ".tmp", PORTFILE)
server.serve_forever()
