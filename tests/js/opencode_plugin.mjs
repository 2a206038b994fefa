// Loads paneherd's OpenCode plugin as OpenCode does (each export called with the plugin
// context) with a stub SDK client that records what it is asked to post, then plays the events
// OpenCode emits around delegations. Run by tests/opencode_plugin.rs with PANEHERD_BIN and the
// test's paneherd environment; prints what the stub client saw as JSON.
import { execFileSync } from "node:child_process";

const [plugin, scenario] = process.argv.slice(2);
const bin = process.env.PANEHERD_BIN;
const ph = (...args) => execFileSync(bin, args, { encoding: "utf8" }).trim();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const posted = [];
const client = {
  session: {
    prompt: async (req) => {
      posted.push(req);
      return { data: {} };
    },
  },
  app: { log: async () => ({}) },
};
const mod = await import(plugin);
const hooks = [];
for (const f of Object.values(mod)) {
  if (typeof f === "function" && f.name !== "submittedIds") hooks.push(await f({ client, directory: process.cwd() }));
}
const fire = async (event) => {
  for (const h of hooks) await h.event?.({ event });
};
const after = async (input, output) => {
  for (const h of hooks) await h["tool.execute.after"]?.(input, output);
};
const mcpPart = (sessionID, id) => ({
  type: "message.part.updated",
  properties: {
    part: {
      type: "tool", tool: "paneherd_task", sessionID, callID: `call_${id}`,
      state: {
        status: "completed", input: { prompt: "x", subagent_type: "shell" },
        output: `Task ${id} started in the background (shell: x).\nDo not poll: you will be notified when it ends.`,
      },
    },
  },
});

async function until(cond, ms) {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
}

if (scenario === "delegate") {
  // Session A: one through the MCP tool (seen by both the hook and the event: told once), one
  // through `paneherd run` in the bash tool; session B: one; a task nobody here submitted; and a
  // quick one of A's that ends before OpenCode reports the call.
  const a1 = ph("run", "--agent", "shell", "--", "sleep 0.4; echo a1");
  const a2 = ph("run", "--agent", "shell", "--", "sleep 1.2; echo a2");
  const b1 = ph("run", "--agent", "shell", "--", "sleep 0.2; echo b1");
  const other = ph("run", "--agent", "shell", "--", "echo other");
  const quick = ph("run", "--agent", "shell", "--", "echo quick");
  ph("wait", quick, other);
  await after(
    { tool: "paneherd_task", sessionID: "ses_A", callID: "c1", args: { prompt: "x" } },
    { title: "", output: `Task ${a1} started in the background (shell: x).`, metadata: {} },
  );
  await fire(mcpPart("ses_A", a1));
  await fire({
    type: "message.part.updated",
    properties: { part: { type: "tool", tool: "bash", sessionID: "ses_A", state: {
      status: "completed", input: { command: `paneherd run --agent shell -- 'sleep 1.2; echo a2'` }, output: `${a2}\n` } } },
  });
  await fire(mcpPart("ses_B", b1));
  await fire(mcpPart("ses_A", quick));
  await until(() => posted.length >= 4, 10000);
  await sleep(800); // anything told twice would arrive now
  console.log(JSON.stringify({ ids: { a1, a2, b1, other, quick }, posted }));
} else if (scenario === "own") {
  // OpenCode running as a paneherd task: its events become `paneherd signal`s.
  const id = process.env.PANEHERD_TASK_ID;
  const show = () => JSON.parse(ph("output", id, "--json"));
  const seen = [];
  await fire({ type: "session.created", properties: { info: { id: "ses_main", title: "t" } } });
  await fire({ type: "session.created", properties: { info: { id: "ses_sub", parentID: "ses_main" } } });
  await until(() => show().session === "ses_main", 5000);
  seen.push({ after: "session.created", task: show() });
  await fire({ type: "permission.asked", properties: { id: "per_1", sessionID: "ses_main", title: "Run rm -rf build" } });
  await until(() => show().needs_input, 5000);
  seen.push({ after: "permission.asked", task: show() });
  await fire({ type: "session.status", properties: { sessionID: "ses_main", status: { type: "busy" } } });
  await until(() => !show().needs_input, 5000);
  seen.push({ after: "session.status busy", task: show() });
  await fire({ type: "session.idle", properties: { sessionID: "ses_sub" } });
  await sleep(300);
  seen.push({ after: "session.idle of a subagent", task: show() });
  await fire({ type: "session.idle", properties: { sessionID: "ses_main" } });
  await until(() => show().status !== "running", 5000);
  seen.push({ after: "session.idle", task: show() });
  console.log(JSON.stringify(seen));
}
process.exit(0);
