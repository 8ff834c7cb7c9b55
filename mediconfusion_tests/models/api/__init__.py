"""Models behind an API: OpenAI and Azure OpenAI, Anthropic, Gemini, and OpenAI-compatible servers (vLLM...).

- ``secrets``: keys from the environment or a ``.env`` file, redacted from everything written;
- ``client``: what every backend shares: requests in flight up to ``--concurrency``, retries with backoff
  on 429/5xx/timeouts (``Retry-After`` honoured), the run-wide budget, usage and cost;
- ``images``, ``prices``: the image as sent, and the prices the cost is computed from;
- ``openai_chat``, ``anthropic_messages``, ``gemini_content``: the three request shapes;
- ``entries``: the registry entries and presets.
"""
