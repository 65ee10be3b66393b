"""Attribute names on the wire (docs/sdk.md). One place, so the SDK and its tests agree."""

OPERATION = "gen_ai.operation.name"
OP_AGENT = "invoke_agent"
OP_TOOL = "execute_tool"
OP_WAIT = "wait"

AGENT_ID = "gen_ai.agent.id"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ROLE = "swarmscope.agent.role"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
# Standard GenAI names for raw tool content, recorded only when content capture is on.
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
REQUEST_MODEL = "gen_ai.request.model"

RUN_ID = "swarmscope.run.id"
TASK_ID = "swarmscope.task.id"
TASK_STATUS = "swarmscope.task.status"
TASK_STATUSES = ("completed", "failed", "partial", "abandoned")
INPUT_HASH = "swarmscope.input.hash"
OUTPUT_HASH = "swarmscope.output.hash"
INPUT_CONTENT = "swarmscope.input.content"
OUTPUT_CONTENT = "swarmscope.output.content"
CONFIDENCE = "swarmscope.confidence"
EVIDENCE_EXIT_CODE = "swarmscope.evidence.exit_code"
EVIDENCE_TEST_COMMAND = "swarmscope.evidence.test_command"
EVIDENCE_FILES_CHANGED = "swarmscope.evidence.files_changed"
EVIDENCE_VALIDATED_BY = "swarmscope.evidence.validated_by"
EVIDENCE_VALIDATION_PASSED = "swarmscope.evidence.validation.passed"
WAIT_FOR = "swarmscope.wait.for"
WAIT_TASK_ID = "swarmscope.wait.task_id"
WAIT_RESOURCE = "swarmscope.wait.resource"
WAIT_TIMEOUT_MS = "swarmscope.wait.timeout_ms"
# What an open span holds, for the wait-for graph: resource names (comma-separated), or the group
# whose leader it is (the leader holds its group).
RESOURCE_HELD = "swarmscope.resource.held"
LEADER_GROUP = "swarmscope.leader.group"
ATTEMPT = "swarmscope.attempt"
IDEMPOTENCY_KEY = "swarmscope.idempotency_key"
CONTEXT_BUDGET = "swarmscope.context.budget_tokens"
ERROR_TYPE = "error.type"
# OpenTelemetry process attributes: where a test command shows up as having run.
PROCESS_COMMAND_LINE = "process.command_line"
PROCESS_COMMAND = "process.command"

# Pending spans (docs/sdk.md, "Spans that have not ended yet").
SPAN_TYPE = "swarmscope.span_type"
PENDING_PARENT_ID = "swarmscope.pending_parent_id"
HEARTBEAT_INTERVAL_MS = "swarmscope.heartbeat.interval_ms"

# The W3C baggage entry that carries the run id across processes; same name as the attribute.
RUN_BAGGAGE_KEY = RUN_ID

# Attribute families, for grouping a span's attributes when it is shown.
GENAI_PREFIX = "gen_ai."
SWARMSCOPE_PREFIX = "swarmscope."
EVIDENCE_PREFIX = "swarmscope.evidence."

# ---- Names other emitters use; the collector reads them too (docs/integrations.md) -------------------
OP_CHAT = "chat"
SERVICE_NAME = "service.name"
EXCEPTION_EVENT = "exception"
EXCEPTION_TYPE = "exception.type"
EXCEPTION_MESSAGE = "exception.message"

# OpenTelemetry GenAI conventions beyond the canonical names above.
CONVERSATION_ID = "gen_ai.conversation.id"
LEGACY_INPUT_TOKENS = "gen_ai.usage.prompt_tokens"
LEGACY_OUTPUT_TOKENS = "gen_ai.usage.completion_tokens"
# Pydantic AI repeats its model calls' totals on the agent span under these names.
AGGREGATED_INPUT_TOKENS = "gen_ai.aggregated_usage.input_tokens"
AGGREGATED_OUTPUT_TOKENS = "gen_ai.aggregated_usage.output_tokens"
INPUT_MESSAGES = "gen_ai.input.messages"
HANDOFF_FROM = "gen_ai.handoff.from_agent"
HANDOFF_TO = "gen_ai.handoff.to_agent"
# The GenAI tool-call name a hand-off uses (OpenAI Agents SDK, LangGraph swarm/supervisor, Pydantic AI
# by convention): `transfer_to_<agent>`.
HANDOFF_TOOL_PREFIX = "transfer_to_"

# OpenInference (Arize): OpenAI Agents SDK, LangChain/LangGraph, CrewAI, smolagents, ...
OI_SPAN_KIND = "openinference.span.kind"
OI_AGENT_NAME = "agent.name"
OI_GRAPH_NODE_ID = "graph.node.id"
OI_GRAPH_NODE_PARENT_ID = "graph.node.parent_id"
OI_TOOL_NAME = "tool.name"
OI_TOOL_ID = "tool.id"
OI_TOOL_CALL_ID = "tool_call.id"
OI_MODEL = "llm.model_name"
OI_INPUT_TOKENS = "llm.token_count.prompt"
OI_OUTPUT_TOKENS = "llm.token_count.completion"
OI_INPUT_VALUE = "input.value"
OI_SESSION_ID = "session.id"
OI_METADATA = "metadata"  # JSON; LangGraph runs put their graph position in it
LANGGRAPH_CHECKPOINT_NS = "langgraph_checkpoint_ns"
LANGGRAPH_NODE = "langgraph_node"  # the graph node a LangGraph run belongs to (run metadata)


def langgraph_agent(namespace: str, is_agent_span: bool = False) -> str:
    """The outer graph's node a LangGraph run is in (`planner:<id>|agent:<id>` -> planner): in a graph of
    agents, the agent. A run of the outer graph itself names one only if it is an agent span."""
    if not isinstance(namespace, str) or not namespace or ("|" not in namespace and not is_agent_span):
        return ""
    return namespace.split("|", 1)[0].split(":", 1)[0]

# OpenInference names a hand-off span `handoff to <agent>` (OpenAI Agents SDK).
OI_HANDOFF_SPAN_PREFIX = "handoff to "

# OpenLLMetry (Traceloop).
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TOOL_AGENT_ROLE = "tool.agent_role"  # OpenLLMetry's CrewAI tool spans name their agent's role

# LangSmith's OpenTelemetry export.
LANGSMITH_SPAN_KIND = "langsmith.span.kind"
LANGSMITH_AGENT_NAME = "langsmith.metadata.lc_agent_name"
LANGSMITH_THREAD_ID = "langsmith.metadata.thread_id"

# Model Context Protocol: a tool call is a `tools/call {tool}` span.
MCP_METHOD = "mcp.method.name"
MCP_TOOLS_CALL = "tools/call"
MCP_SESSION_ID = "mcp.session.id"

# Agent-to-agent protocol task keys.
A2A_TASK_ID = "a2a.task.id"
A2A_TASK_STATE = "a2a.task.state"

# Logfire's pending-span shape, accepted beside ours.
LOGFIRE_SPAN_TYPE = "logfire.span_type"
LOGFIRE_PENDING_PARENT_ID = "logfire.pending_parent_id"
LOGFIRE_HEARTBEAT_INTERVAL_MS = "logfire.heartbeat.interval_ms"
