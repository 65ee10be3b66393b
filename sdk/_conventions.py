"""Attribute names on the wire (DESIGN.md, "Wire conventions"). One place, so the SDK and its tests agree."""

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

# Pending spans (DESIGN.md, "Spans that have not ended yet").
SPAN_TYPE = "swarmscope.span_type"
PENDING_PARENT_ID = "swarmscope.pending_parent_id"
HEARTBEAT_INTERVAL_MS = "swarmscope.heartbeat.interval_ms"

# The W3C baggage entry that carries the run id across processes; same name as the attribute.
RUN_BAGGAGE_KEY = RUN_ID

# Attribute families, for grouping a span's attributes when it is shown.
GENAI_PREFIX = "gen_ai."
SWARMSCOPE_PREFIX = "swarmscope."
EVIDENCE_PREFIX = "swarmscope.evidence."
