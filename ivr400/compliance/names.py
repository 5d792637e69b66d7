"""Owner-name comparison for R2 (登记户名与企业名称一致).

Registration documents mix full-width and half-width characters, Chinese and ASCII brackets and stray
spaces; those are the same name. A subsidiary or affiliate (分公司, 子公司, 关联公司) has a different
registered name and is a different owner: nothing here strips suffixes.
"""
from __future__ import annotations

import re
import unicodedata

_BRACKETS = str.maketrans({"（": "(", "）": ")", "［": "(", "］": ")", "[": "(", "]": ")", "【": "(", "】": ")",
                           "〔": "(", "〕": ")", "｛": "(", "｝": ")", "{": "(", "}": ")"})
_SPACES = re.compile(r"[\s\u3000\u00a0\u200b]+")


def name_key(name: str) -> str:
    """The comparison key of a registered name: NFKC, one bracket style, no spaces, case-folded."""
    text = unicodedata.normalize("NFKC", name).translate(_BRACKETS)
    return _SPACES.sub("", text).casefold()


def same_owner(a: str, b: str) -> bool:
    return name_key(a) == name_key(b)
