"""Cheaper construction of frozen attrs value objects, for a connector's hot path.

attrs' ``__init__`` of a frozen slotted class sets each field through
``object.__setattr__`` and fills defaults; :func:`positional_constructor` builds the same
object with ``object.__new__`` and each slot's own descriptor, about a quarter cheaper
(measured in ``benchmarks/findings.md``). The object is indistinguishable from one built by
the class: same type, same field values, equal and hashing alike.

Only for classes where that is true: every field is passed (no default or factory runs),
and the class has no validator, converter, ``on_setattr`` hook or
``__attrs_post_init__``/``__attrs_pre_init__`` that the class's own ``__init__`` would run.
Such a class is refused with ``TypeError``.
"""

from __future__ import annotations

import keyword
from collections.abc import Callable
from typing import Any, TypeVar

import attrs

__all__ = ["positional_constructor"]

T = TypeVar("T")


def positional_constructor(cls: type[T]) -> Callable[..., T]:
    """A function ``(field_1, ..., field_n) -> cls`` taking every field of ``cls``, in
    definition order, positionally; see the module doc for which classes qualify."""
    if not attrs.has(cls) or "__slots__" not in cls.__dict__:
        raise TypeError(f"{cls.__name__}: not an attrs class with slots")
    for hook in ("__attrs_post_init__", "__attrs_pre_init__"):
        if hasattr(cls, hook):
            raise TypeError(f"{cls.__name__}: has {hook}, which this constructor skips")
    fields = attrs.fields(cls)
    for field in fields:
        if field.validator is not None or field.converter is not None \
                or field.on_setattr not in (None, attrs.setters.NO_OP):
            raise TypeError(f"{cls.__name__}.{field.name}: a validator, converter or "
                            "on_setattr hook, which this constructor skips")
        if not field.init or not field.name.isidentifier() or keyword.iskeyword(field.name):
            raise TypeError(f"{cls.__name__}.{field.name}: not a plain init field")
    names = [field.name for field in fields]
    # Each slot's member descriptor, found along the MRO as attribute lookup would.
    namespace: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    for index, name in enumerate(names):
        descriptor = next(vars(klass)[name] for klass in cls.__mro__ if name in vars(klass))
        namespace[f"_set{index}"] = descriptor.__set__
    # Generated source, as attrs generates its own __init__: a closure over a list of
    # setters would loop in Python and lose most of the gain.
    lines = [f"def build({', '.join(names)}):", "    obj = _new(_cls)"]
    lines += [f"    _set{index}(obj, {name})" for index, name in enumerate(names)]
    lines.append("    return obj")
    exec(compile("\n".join(lines), f"<positional constructor {cls.__qualname__}>", "exec"),
         namespace)
    build: Callable[..., T] = namespace["build"]
    build.__name__ = f"new_{cls.__name__}"
    build.__qualname__ = build.__name__
    build.__doc__ = f"{cls.__name__}({', '.join(names)}), every field given (no checks)."
    return build
