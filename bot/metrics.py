"""In-process counters and summaries, exposed as Prometheus text at /metrics."""

from __future__ import annotations

from collections import defaultdict


class Metrics:
    """Counters and (count, sum) summaries; cheap enough for the hot path."""

    def __init__(self) -> None:
        self.counters: dict[str, float] = defaultdict(float)
        self.summaries: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])

    def inc(self, name: str, value: float = 1, **labels: str) -> None:
        """Add to a counter; `labels` make one series per value (`provider="meta"`)."""
        if labels:
            name += "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items())) + "}"
        self.counters[name] += value

    def observe(self, name: str, value: float) -> None:
        s = self.summaries[name]
        s[0] += 1
        s[1] += value

    def render(self, gauges: dict[str, float] | None = None, counters: dict[str, float] | None = None) -> str:
        """Prometheus text; `counters` adds ones kept elsewhere (e.g. by the store)."""
        lines: list[str] = []
        typed: set[str] = set()
        for series, value in sorted({**self.counters, **(counters or {})}.items()):
            name = series.partition("{")[0]
            if name not in typed:  # one TYPE line per metric, however many labelled series it has
                typed.add(name)
                lines.append(f"# TYPE {name} counter")
            lines.append(f"{series} {value:g}")
        for name, (count, total) in sorted(self.summaries.items()):
            lines += [f"# TYPE {name} summary", f"{name}_count {count:g}", f"{name}_sum {total:.6f}"]
        for name, value in sorted((gauges or {}).items()):
            lines += [f"# TYPE {name} gauge", f"{name} {value:g}"]
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
