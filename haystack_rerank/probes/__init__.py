"""
Behaviour probes: contrastive cases that a reader of query and document together can get right and a scorer of
words or of separately computed summaries cannot (attribute binding, negation, direction, role binding, numbers).

```python
from haystack_rerank.probes import markdown, run_probes

report = run_probes(["haystack-rerank/scifact-minilm-l6-ce"])  # BM25, the bi-encoder and each cross-encoder
print(markdown(report))
```
"""

from haystack_rerank.probes.cases import CATEGORIES, PROBES_VERSION, ProbeCase, load_cases
from haystack_rerank.probes.report import markdown, plot, run_probes

__all__ = ["CATEGORIES", "PROBES_VERSION", "ProbeCase", "load_cases", "markdown", "plot", "run_probes"]
