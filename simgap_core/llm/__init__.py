"""The chat-model client shared by every part a chat model writes (annotator, cluster namer).

- `chat`: the endpoint from arguments or environment, one chat completion over the shared
  HTTP client (`simgap_core.http`: retries, backoff honouring Retry-After, concurrency limit,
  several servers, redacted URLs), and the one re-ask after an unusable answer;
- `answers`: the JSON object in a model's answer, repaired where models commonly break it;
- `cache`: answers on disk, keyed by (model, prompt version, content digest), written as they
  arrive so an interrupted run resumes;
- `base`: `ChatModelBase`, the constructor, validation, cache lookup and concurrent requests
  that `simgap_core.represent.llm.LLMAnnotator` and `simgap_core.behaviour.llm_names.LLMNamer`
  share; each adds only its prompts (data files beside it) and how it reads an answer.
"""
