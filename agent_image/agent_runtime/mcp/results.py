"""An MCP tool result as the text the model sees, cut at the server's byte cap."""

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mcp import types


def cut(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` bytes of UTF-8 (never mid-character), with a note saying so."""
    encoded = text.encode()
    if len(encoded) <= max_bytes:
        return text
    kept = encoded[:max_bytes].decode(errors="ignore")
    return f"{kept}\n[truncated at {max_bytes} bytes of {len(encoded)}]"


def result_text(result: "types.CallToolResult") -> str:
    """Text blocks as they are; other blocks named by kind (the model reads text only); structured content
    as JSON when the server sent no text."""
    parts: list[str] = []
    for block in result.content:
        kind = getattr(block, "type", "content")
        if kind == "text":
            parts.append(str(getattr(block, "text", "")))
        elif kind == "resource":
            resource: Any = getattr(block, "resource", None)
            parts.append(str(getattr(resource, "text", None) or f"[resource {getattr(resource, 'uri', '')}]"))
        else:
            parts.append(f"[{kind} {getattr(block, 'mime_type', '') or ''}]".replace(" ]", "]"))
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)
