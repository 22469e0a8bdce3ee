"""MASAI's AgentManager, Agent, MultiAgentSystem and OMAN surface: signatures in MASAI's
positional order, the options MASAI documents (context, callables, long-term memory, token
streaming, chat log, loop warnings), the import paths its docs use, and what stays private
between users (long-term memory per principal, ``mas.state`` only for direct calls)."""

from __future__ import annotations

import importlib
import inspect
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from masai import AgentDetails, AgentManager, FunctionModel, ModelRequest, ScriptedModel
from masai.agents import RunContext
from masai.exceptions import ConfigError
from masai.longterm import HashEmbedder, QdrantConfig
from masai.streaming import EnhancedStreamHandler
from masai.systems import MultiAgentSystem, OrchestratedMultiAgentNetwork
from tests.support.sse import events

DETAILS = AgentDetails(capabilities=["testing"], description="A test agent")
ANSWER = [{"reasoning": "Easy.", "satisfied": True, "answer": "Forty-two."}]


def positional(fn: Any) -> list[str]:
    return [
        p.name
        for p in inspect.signature(fn).parameters.values()
        if p.kind is p.POSITIONAL_OR_KEYWORD and p.name != "self"
    ]


def test_signatures_keep_masai_positional_order() -> None:
    from masai.agents import Agent

    assert positional(AgentManager.__init__) == [
        "logging", "context", "model_config_path", "chat_log", "streaming",
        "streaming_callback", "user_id", "memory_config", "categories_resolver",
    ]  # fmt: skip
    assert positional(AgentManager.create_agent) == [
        "agent_name", "tools", "agent_details", "memory_order", "long_context",
        "long_context_order", "shared_memory_order", "shared_long_context_order",
        "execute_multiple_tools", "plan", "temperature", "context_callable",
        "retain_messages_order", "max_tool_output_words", "persist_memory",
        "callable_config", "tool_registry",
    ]  # fmt: skip
    assert positional(Agent.initiate_agent) == ["query", "passed_from", "previous_node"]
    assert positional(Agent.initiate_agent_astream) == ["query", "passed_from", "previous_node"]
    assert positional(MultiAgentSystem.__init__) == [
        "agentManager", "supervisor_config", "heirarchical_mas_result_callback",
        "agent_return_direct",
    ]  # fmt: skip
    assert positional(OrchestratedMultiAgentNetwork.__init__) == [
        "mas_instances", "network_memory_order", "oman_llm_config", "extra_context",
    ]  # fmt: skip


#: Every import line of MASAI's README and docs (deduplicated), as its users write them; the
#: ones that name a module MASAI itself never had are in ``docs/masai-compat.md``.
DOC_IMPORTS = [
    ("masai.AgentManager", ["AgentManager", "AgentDetails"]),
    ("masai.AgentManager.AgentManager", ["AgentManager", "AgentDetails"]),
    ("masai.schema", ["Document"]),
    ("masai.schema.document", ["Document"]),
    ("masai.Memory.LongTermMemory", ["RedisConfig", "QdrantConfig", "LongTermMemory"]),
    ("masai.Memory.LongTermMemory", ["BaseAdapter", "QdrantAdapter"]),
    ("masai.Tools.Tool", ["tool", "Tool", "ToolCache"]),
    ("masai.Tools", ["Tool"]),
    ("masai.Tools.ToolRegistry", ["ToolRegistry"]),
    ("masai.Tools.utilities.cache", ["ToolCache"]),
    (
        "masai.Tools.tools.LongTermMemoryCRUDTool",
        ["LongTermMemoryCRUDTool", "create_longterm_memory_tool"],
    ),
    ("masai.MultiAgents.MultiAgent", ["MultiAgentSystem", "SupervisorConfig"]),
    ("masai.MultiAgents.OMAN", ["OrchestratedMultiAgentNetwork"]),
    ("masai.OMAN.oman", ["OrchestratedMultiAgentNetwork"]),
    ("masai.OMAN", ["OrchestratedMultiAgentNetwork"]),
    ("masai.Agents", ["Agent"]),
    ("masai.Agents.singular_agent", ["Agent"]),
    ("masai.Agents.base_agent", ["BaseAgent", "State"]),
    (
        "masai.context",
        ["set_user_id", "get_user_id", "set_request_id", "get_request_id", "set_tenant_id"],
    ),
    ("masai.prompts", ["ChatPromptTemplate", "HumanMessagePromptTemplate", "PromptTemplate"]),
    ("masai.Tools.utilities.streaming_events", ["emit_custom_event", "StreamingEvent"]),
    ("masai.Tools.utilities.enhanced_streaming", ["EnhancedStreamHandler"]),
]


@pytest.mark.parametrize(("module", "names"), DOC_IMPORTS)
def test_masai_doc_imports_resolve_to_classes(module: str, names: list[str]) -> None:
    imported = importlib.import_module(module)
    for name in names:
        value = getattr(imported, name)
        assert not inspect.ismodule(value), f"{module}.{name} is a module, not the API"


def test_package_and_module_paths_agree_in_either_import_order() -> None:
    import subprocess
    import sys

    program = (
        "from masai.AgentManager.AgentManager import AgentManager as A\n"
        "from masai.AgentManager import AgentManager as B\n"
        "from masai.Tools.Tool import tool\n"
        "from masai.Tools import Tool\n"
        "import inspect\n"
        "assert A is B and inspect.isclass(B) and inspect.isclass(Tool), (A, B, Tool)\n"
        "from masai import AgentManager as C\n"  # (masai's own name, after MASAI's package)
        "import masai\n"
        "assert C is A and masai.AgentManager is A, (C, masai.AgentManager)\n"
    )
    subprocess.run([sys.executable, "-c", program], check=True, timeout=60)


async def test_streaming_callback_gets_the_answer_as_it_is_written() -> None:
    chunks: list[str] = []

    async def on_chunk(text: str) -> None:
        chunks.append(text)

    manager = AgentManager(
        False, streaming=True, streaming_callback=on_chunk, model=ScriptedModel(ANSWER)
    )
    agent = manager.create_agent("a", [], DETAILS)
    result = await agent.initiate_agent("Q?")
    assert "".join(chunks) == result["answer"] == "Forty-two."
    with pytest.raises(ConfigError, match="streaming_callback"):
        AgentManager(streaming=True)


async def test_streaming_callback_leaves_an_event_stream_alone() -> None:
    chunks: list[str] = []
    manager = AgentManager(
        False, streaming=True, streaming_callback=chunks.append, model=ScriptedModel(ANSWER)
    )
    agent = manager.create_agent("a", [], DETAILS)
    handler = EnhancedStreamHandler()
    text = "".join([c async for c in handler.stream_agent_execution(agent, "Q?")])
    assert [e["event_type"] for e in events(text)][-1] == "answer"  # the stream kept it
    assert chunks == []


async def test_chat_log_appends_each_answered_question(tmp_path: Path) -> None:
    log = tmp_path / "chat.jsonl"
    manager = AgentManager(False, chat_log=log, user_id="u9", model=ScriptedModel(ANSWER * 2))
    agent = manager.create_agent("a", [], DETAILS)
    await agent.initiate_agent("first?")
    await agent.initiate_agent("second?")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(x["query"], x["answer"], x["user_id"]) for x in lines] == [
        ("first?", "Forty-two.", "u9"),
        ("second?", "Forty-two.", "u9"),
    ]


def test_options_without_meaning_warn_once(caplog: pytest.LogCaptureFixture) -> None:
    manager = AgentManager(False, model=ScriptedModel([]))
    with caplog.at_level(logging.WARNING, logger="masai.agents"):
        manager.create_agent("a", [], DETAILS)  # MASAI's defaults: nothing to say
        assert not caplog.records
        manager.create_agent("b", [], DETAILS, shared_memory_order=3, long_context_order=9)
        manager.create_agent("c", [], DETAILS, shared_memory_order=4)
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2
    assert any("shared_memory_order" in w for w in warned)
    assert any("long_context_order" in w for w in warned)
    with pytest.raises(ConfigError, match="memory_config"):
        manager.create_agent("d", [], DETAILS, persist_memory=True)
    with pytest.raises(ConfigError, match="unknown option 'AnswerFormat'"):
        manager.create_agent("e", [], DETAILS, AnswerFormat=dict)


async def test_max_tool_loop_warns_the_model_of_repeats() -> None:
    seen: list[str] = []

    def decide(request: ModelRequest) -> dict[str, Any]:
        seen.append(request.messages[-1].content)
        if len(seen) < 4:
            return {"reasoning": "again", "tool": "echo", "tool_input": {"text": "x"}}
        return {"reasoning": "ok", "satisfied": True, "answer": "done"}

    def echo(text: str) -> str:
        """Echo."""
        return text

    manager = AgentManager(False, model=FunctionModel(decide))
    agent = manager.create_agent("a", [echo], DETAILS, max_tool_loop=2)
    result = await agent.initiate_agent("Q?")
    assert result["tool_loop_counter"] == 3
    warnings = [s for s in seen if "same input 3 times" in s]
    assert len(warnings) == 1 and not any("same input 2 times" in s for s in seen)


async def test_context_callables_run_for_user_tasks_only() -> None:
    prompts: list[str] = []

    def decide(request: ModelRequest) -> dict[str, Any]:
        prompts.append(request.messages[0].content)
        return {"reasoning": "ok", "satisfied": True, "answer": "done"}

    calls: list[str] = []

    def profile(query: str) -> str:
        calls.append(query)
        return "tier: gold"

    def broken(query: str) -> str:
        raise RuntimeError("context source down")

    manager = AgentManager(False, {"region": "EU"}, model=FunctionModel(decide))
    agent = manager.create_agent(
        "a", [], DETAILS, context_callable=[profile, broken], callable_config={"router": broken}
    )
    await agent.initiate_agent("Q?", "user")
    await agent.initiate_agent("Handed over", "other_agent")
    assert calls == ["Q?"]  # not for a hand-off
    assert "tier: gold" in prompts[0] and "tier: gold" not in prompts[1]
    assert all('"region":"EU"' in p for p in prompts)
    agent.set_context({"region": "US"}, mode="set")
    await agent.initiate_agent("Again", "user")
    assert '"region":"US"' in prompts[-1] and "EU" not in prompts[-1]


def memory_config() -> QdrantConfig:
    return QdrantConfig(url=":memory:", embedding_model=HashEmbedder(dim=64))


async def test_long_term_memory_streams_and_belongs_to_the_principal() -> None:
    prompts: list[str] = []

    def decide(request: ModelRequest) -> dict[str, Any]:
        prompts.append(request.messages[0].content)
        return {"reasoning": "ok", "satisfied": True, "answer": "Noted: the launch is Friday."}

    manager = AgentManager(False, user_id="local-user", memory_config=memory_config(),
                           model=FunctionModel(decide))  # fmt: skip
    agent = manager.create_agent("a", [], DETAILS, persist_memory=True)
    memory = manager.long_term_memory
    # A server run for alice: saved under alice, whatever the manager's user_id.
    alice = RunContext(owner="alice", session_id="s1")
    await agent.initiate_agent("When is the launch?", context=alice)
    assert [d.page_content for d in await memory.search("alice", "launch", k=5)] != []
    assert await memory.search("local-user", "launch", k=5) == []
    # bob's run recalls nothing of alice's; alice's next run recalls her turn.
    await agent.initiate_agent("When is the launch?", context=RunContext(owner="bob"))
    assert "LONG-TERM MEMORY" not in prompts[-1]
    await agent.initiate_agent("Remind me of the launch", context=RunContext(owner="alice"))
    assert "the launch is Friday" in prompts[-1].split("LONG-TERM MEMORY")[1]
    # The recall and the save stream as events of the agent's run.
    handler = EnhancedStreamHandler()
    text = "".join([c async for c in handler.stream_agent_execution(agent, "launch?")])
    memory_events = [e["metadata"] for e in events(text) if e["event_type"] == "custom"]
    assert [m.get("agent") for m in memory_events] == ["a", "a"]


async def test_mas_state_is_kept_for_direct_calls_only() -> None:
    def answer(name: str) -> FunctionModel:
        return FunctionModel(lambda r: {"satisfied": True, "answer": f"{name} answered"})

    manager = AgentManager(False)
    for name in ("a", "b"):
        manager.create_agent(name, [], AgentDetails([name]), model=answer(name))
    mas = MultiAgentSystem(manager)
    await mas.initiate_decentralized_mas("q", "b", context=RunContext(owner="alice"))
    assert mas.state["last_agent"] is None  # a server's run leaves it alone
    first = await mas.initiate_decentralized_mas("q", "b")
    assert (first["last_agent"], mas.state["last_agent"]) == ("b", "b")
    again = await mas.initiate_decentralized_mas("q", "a")  # MASAI: the last agent goes on
    assert again["answer"] == "b answered"
    mas.state = {"last_agent": None, "last_agent_answers": []}
    assert (await mas.initiate_decentralized_mas("q", "a"))["answer"] == "a answered"


async def test_manager_session_dump_load_and_tools() -> None:
    def echo(text: str) -> str:
        """Echo."""
        return text

    def shout(text: str) -> str:
        """Shout."""
        return text.upper()

    manager = AgentManager(False, user_id=7, model=ScriptedModel(ANSWER * 2))
    agent = manager.create_agent("a", [echo], DETAILS)
    await agent.initiate_agent("Q?")
    dumped = manager.dump_session()
    assert dumped["agents"]["a"]["history"][1] == {"role": "assistant", "content": "Forty-two."}
    other = AgentManager(False, model=ScriptedModel(ANSWER))
    other.create_agent("a", [], DETAILS)
    other.load_session(json.loads(json.dumps(dumped)))
    assert other.dump_session()["agents"]["a"]["history"] == dumped["agents"]["a"]["history"]
    other.load_session({"version": 99})  # ignored, as MASAI does
    other.load_session(None)
    assert list(manager.update_tools([shout], agent_name="a")) == ["echo", "shout"]
    assert list(manager.update_tools([shout], "overwrite", "a")) == ["shout"]
    with pytest.raises(ConfigError):
        manager.update_tools([], agent_name="a")
    assert manager.session_key() == "masai:session:7"
    assert manager.toggle_plan_mode("a") is True and agent.plan is True
    assert manager.toggle_plan_mode("a", enable=False) is False
    assert len(manager.sessions) == 1  # (the in-process store: "a"'s history)
    manager.cleanup()
    assert (len(manager.sessions), manager.list_agents()) == (0, [])


async def test_oman_blocking_call_refuses_inside_a_loop() -> None:
    manager = AgentManager(False)
    manager.create_agent("x", [], DETAILS, model=ScriptedModel(ANSWER))
    oman = OrchestratedMultiAgentNetwork(
        [MultiAgentSystem(manager)],
        model=FunctionModel(lambda r: {"delegate_to_agent": "Network_1"}),
    )
    with pytest.raises(ConfigError, match="adelegate_task"):
        oman.delegate_task("Q?")
    assert await oman.adelegate_task("Q?") == "Forty-two."


def test_prompt_templates() -> None:
    from masai.prompts import ChatPromptTemplate, PromptTemplate, SystemMessagePromptTemplate

    prompt = PromptTemplate(template="Answer: {question}", input_variables=["question"])
    assert prompt.format(question="why?") == "Answer: why?"
    chat = ChatPromptTemplate.from_messages(
        [SystemMessagePromptTemplate(prompt), ("human", "{question} {extra}")]
    )
    assert chat.input_variables == ["question", "extra"]
    assert chat.format_messages(question="q", extra="e") == [
        {"role": "system", "content": "Answer: q"},
        {"role": "user", "content": "q e"},
    ]
    with pytest.raises(ConfigError, match="extra"):
        chat.format_messages(question="q")


#: Every public class and function of MASAI 0.6.5 (``masai-framework``), by module.
MASAI_PUBLIC = {
    "masai.AgentManager.AgentManager": ["AgentDetails", "AgentManager"],
    "masai.Agents.base_agent": ["State", "BaseAgent"],
    "masai.Agents.singular_agent": ["Agent"],
    "masai.Config.config": ["Config"],
    "masai.GenerativeModel.baseGenerativeModel.basegenerativeModel": ["BaseGenerativeModel"],
    "masai.GenerativeModel.generativeModels": ["GenerativeModel", "MASGenerativeModel"],
    "masai.GenerativeModel.parameter_config": [
        "ProviderSpec", "extract_params", "extract_gemini_params", "extract_openai_params",
        "extract_anthropic_params", "validate_parameters", "get_all_supported_params",
    ],
    "masai.GenerativeModel.provider_registry": [
        "ProviderEntry", "register_provider", "unregister_provider", "resolve_provider",
    ],
    "masai.GenerativeModel.vanilla_wrappers.anthropic_wrapper": ["ChatAnthropic"],
    "masai.GenerativeModel.vanilla_wrappers.base_chat_model": ["AIMessage", "BaseChatModel"],
    "masai.GenerativeModel.vanilla_wrappers.gemini_wrapper": ["ChatGoogleGenerativeAI"],
    "masai.GenerativeModel.vanilla_wrappers.openai_wrapper": ["ChatOpenAI"],
    "masai.Memory.InMemoryStore": ["InMemoryDocStore"],
    "masai.Memory.LongTermMemory": [
        "QdrantConfig", "RedisConfig", "QdrantAdapter", "RedisAdapter", "LongTermMemory",
    ],
    "masai.MultiAgents.MultiAgent": ["SupervisorConfig", "MultiAgentState", "MultiAgentSystem"],
    "masai.MultiAgents.TaskManager": ["TaskManager"],
    "masai.OMAN.oman": ["OrchestratedMultiAgentNetwork"],
    "masai.Tools.PARSERs.json_parser": [
        "json_safe", "repair_json_string", "clean_input", "extract_delimited_content",
        "parse_json_with_delimiters", "parse_json", "unescape_json_string", "parse_task_string",
        "handle_tool_input", "parser", "parse_tool_input",
    ],
    "masai.Tools.Tool": ["Tool", "tool"],
    "masai.Tools.ToolRegistry": ["ToolRegistry"],
    "masai.Tools.logging_setup.logger": ["WindowsColorHandler", "SimpleFormatter", "setup_logger"],
    "masai.Tools.utilities.cache": ["ToolCache"],
    "masai.Tools.utilities.deduplication_utils": [
        "ToolOutputDeduplicator", "get_deduplicator", "deduplicate_tool_outputs",
        "extract_tool_output_from_prompt", "calculate_similarity", "is_content_similar",
        "truncate_overlapping_content", "deduplicate_and_truncate_chat_history",
        "truncate_similar_substrings_in_history",
    ],
    "masai.Tools.utilities.enhanced_streaming": ["EnhancedStreamHandler", "SimpleStreamHandler"],
    "masai.Tools.utilities.streaming_events": [
        "StreamingEvent", "set_streaming_callback", "clear_streaming_callback",
        "get_streaming_callback", "emit_event", "emit_tool_call", "emit_tool_output",
        "emit_node_transition", "emit_custom_event",
    ],
    "masai.Tools.utilities.tokenGenerationTool": ["token_stream", "MarkupProcessor"],
    "masai.langgraph.core": ["StateGraph"],
    "masai.langgraph.state": ["GraphVisualization", "CompiledStateGraph"],
    "masai.prompts.Template.template": ["PromptTemplate"],
    "masai.prompts.chat_prompt_template": [
        "PromptTemplate", "BaseMessagePromptTemplate", "SystemMessagePromptTemplate",
        "HumanMessagePromptTemplate", "AIMessagePromptTemplate", "ChatPromptTemplate",
    ],
    "masai.prompts.prompt_templates": [
        "pluralize_tool_fields", "get_agent_prompts", "get_supervisor_prompt",
    ],
    "masai.pydanticModels.AnswerModel": ["answermodel"],
    "masai.pydanticModels.omanModel": ["structure_oman_supervisor"],
    "masai.pydanticModels.supervisorModels": ["structure_supervisor"],
    "masai.schema.document": ["Document"],
}  # fmt: skip


def compat_table() -> dict[tuple[str, str], str]:
    page = (Path(__file__).parents[1] / "docs" / "masai-compat.md").read_text(encoding="utf-8")
    rows = {}
    for line in page.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("`masai."):
            rows[(cells[0].strip("`"), cells[1].strip("`"))] = cells[2]
    return rows


def test_the_compat_table_names_every_public_name_of_masai_and_is_true() -> None:
    table = compat_table()
    expected = {(module, name) for module, names in MASAI_PUBLIC.items() for name in names}
    assert expected - set(table) == set(), "names missing from docs/masai-compat.md"
    assert len(expected) == 93
    for (module, name), status in table.items():
        try:
            found = getattr(importlib.import_module(module), name, None)
        except ModuleNotFoundError:
            found = None
        if status in ("shim", "same", "warning"):
            assert found is not None and not inspect.ismodule(found), (module, name)
        elif "importable" not in status:
            assert status == "not supported", (module, name, status)
            assert found is None, f"{module}.{name} exists but the table says {status}"


async def test_supervisor_memory_spans_direct_calls_only() -> None:
    from masai.systems import SupervisorConfig

    seen: list[list[str]] = []

    def supervise(request: ModelRequest) -> dict[str, Any]:
        seen.append([m.content for m in request.messages[1:]])
        return {"reasoning": "known", "satisfied": True, "answer": f"A{len(seen)}"}

    manager = AgentManager(False)
    manager.create_agent("x", [], DETAILS, model=ScriptedModel([]))
    config = SupervisorConfig("m", 0.2, "openai", 1, True, {}, None, model=FunctionModel(supervise))
    mas = MultiAgentSystem(manager, config)
    await mas.initiate_hierarchical_mas("first task")
    await mas.initiate_hierarchical_mas("second task")
    assert seen[1] == ["first task", "A1", "second task"]
    await mas.initiate_hierarchical_mas("third", context=RunContext(owner="alice"))
    assert seen[2] == ["third"]  # a server's run neither sees nor adds to it
    await mas.initiate_hierarchical_mas("fourth task")
    assert seen[3] == ["second task", "A2", "fourth task"]  # memory_order=1: the last task


def test_model_config_json_is_looked_for_only_when_an_agent_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MASAI_MODEL_CONFIG", raising=False)
    (tmp_path / "model_config.json").write_text("{ not json")
    manager = AgentManager(False, model=ScriptedModel(ANSWER))  # every agent has a model
    manager.create_agent("a", [], DETAILS)
    with pytest.raises(ConfigError, match=r"model_config\.json"):
        AgentManager(False).create_agent("b", [], DETAILS)  # this one reads the file
    monkeypatch.setenv("MASAI_MODEL_CONFIG", str(tmp_path / "missing.json"))
    with pytest.raises(ConfigError, match=r"missing\.json"):
        AgentManager(False).create_agent("c", [], DETAILS)


async def test_oman_streams_its_routing_before_the_network() -> None:
    from masai.events import StreamingEvent, clear_streaming_callback, set_streaming_callback

    manager = AgentManager(False)
    manager.create_agent("x", [], DETAILS, model=ScriptedModel(ANSWER))
    oman = OrchestratedMultiAgentNetwork(
        [MultiAgentSystem(manager), MultiAgentSystem(AgentManager(False))],
        model=FunctionModel(lambda r: {"reasoning": "x knows", "delegate_to_agent": "network_1"}),
    )
    seen: list[StreamingEvent] = []
    token = set_streaming_callback(seen.append)
    try:
        assert await oman.adelegate_task("Q?") == "Forty-two."
    finally:
        clear_streaming_callback(token)
    first = seen[0]
    assert (first.event_type, first.data["from_agent"], first.data["to_agent"]) == (
        "handoff", "oman", "Network_1",
    )  # fmt: skip
    answers = [e for e in seen if e.event_type == "answer"]
    assert [e.metadata["agent"] for e in answers] == ["x"]
    assert oman.shared_memory["tasks"] == [
        {"query": "Q?", "network": "Network_1", "result": "Forty-two."}
    ]


async def test_hierarchical_failure_has_masai_shape() -> None:
    from masai.systems import SupervisorConfig

    manager = AgentManager(False)
    manager.create_agent("x", [], DETAILS, model=ScriptedModel([]))
    stuck = FunctionModel(lambda r: {"reasoning": "thinking", "satisfied": False})
    mas = MultiAgentSystem(manager, SupervisorConfig(model=stuck), max_rounds=2)
    result = await mas.initiate_hierarchical_mas("Q?")
    assert (result["status"], result["stop_reason"], result["original_query"]) == (
        "failed", "max_rounds", "Q?",
    )  # fmt: skip
    assert "limit of 2 rounds" in result["error"] and result["task_id"] in mas.task_ids
