"""Chat templates for GGUF files: the model's own (from its metadata), or one named by the
user (``-B chat_template=chatml|gemma|llama3|completion`` or a Jinja file), with the stop
strings that end its turns. A model without a template of its own is an error that says
what to pass: guessing one silently makes a base model echo the question until
``max_tokens``."""

from __future__ import annotations

from pathlib import Path

from ponder.errors import ConfigError

CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
GEMMA = (
    "{{ bos_token }}{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else 'user' %}"
    "<start_of_turn>{{ role }}\n{{ message['content'] }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
LLAMA3 = (
    "{{ bos_token }}{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n"
    "{{ message['content'] }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
#: plain completion: the messages' texts one after another, for base models
COMPLETION = "{% for message in messages %}{{ message['content'] }}\n\n{% endfor %}"

#: name -> (template, the stop strings that end its turns)
BUILTIN: dict[str, tuple[str, tuple[str, ...]]] = {
    "chatml": (CHATML, ("<|im_end|>",)),
    "gemma": (GEMMA, ("<end_of_turn>",)),
    "llama3": (LLAMA3, ("<|eot_id|>",)),
    "completion": (COMPLETION, ()),
}


def resolve_template(
    own: str | None, chosen: str | None, model: Path
) -> tuple[str, tuple[str, ...]]:
    """The template to use and its stop strings: ``chosen`` (a built-in's name or a Jinja
    file) when given, else the model's ``own``; a ConfigError when there is neither."""
    if chosen is None:
        if own:
            return own, ()
        raise ConfigError(
            f"the model {model.name!r} carries no chat template, so ponder cannot tell how to "
            "ask it a question. Pass one: -B chat_template=chatml|gemma|llama3 (a built-in, "
            "with its end-of-turn stop string) or -B chat_template=/path/template.jinja (add "
            "-B stop=<end of turn> for its end-of-turn marker), or -B chat_template=completion "
            "to send the question as plain text (a base model)"
        )
    if chosen in BUILTIN:
        return BUILTIN[chosen]
    path = Path(chosen).expanduser()
    if path.is_file():
        try:
            return path.read_text(encoding="utf-8"), ()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the chat template file {chosen!r}: {exc}") from exc
    raise ConfigError(
        f"chat_template {chosen!r} is neither a built-in ({', '.join(BUILTIN)}) nor a Jinja "
        "template file"
    )
