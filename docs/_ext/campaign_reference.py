"""Sphinx extension: write the campaign-file reference from the pydantic model, so it never drifts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, get_args, get_origin

from pydantic import BaseModel


def _plain(annotation):
    """Return ``annotation`` without ``Annotated`` metadata (validators), at any depth."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _plain(args[0])
    if origin in (list, dict, tuple, set) and args:
        return origin[tuple(_plain(arg) for arg in args)]
    return annotation


def _type_name(annotation) -> str:
    annotation = _plain(annotation)
    text = (
        str(annotation) if getattr(annotation, '__args__', None) else getattr(annotation, '__name__', str(annotation))
    )
    return text.replace('typing.', '').replace("<class '", '').replace("'>", '')


def _rows(model: type[BaseModel], prefix: str, presets: dict, overrides: type | None = None) -> list[str]:
    rows = []
    for name, field in model.model_fields.items():
        path = f'{prefix}{name}'
        annotation = field.annotation
        nested = next(
            (
                arg
                for arg in getattr(annotation, '__args__', (annotation,))
                if isinstance(arg, type) and issubclass(arg, BaseModel)
            ),
            None,
        )
        if nested is not None:
            rows += _rows(nested, f'{path}.', presets, overrides)
            continue
        if field.is_required():
            default = 'from protocol' if path.split('.')[0] in presets else 'required'
        elif overrides is not None and issubclass(model, overrides):
            default = "stage's protocol"
        else:
            default = f'``{field.get_default(call_default_factory=True)!r}``'
        rows += [
            f'   * - ``{path}``',
            f'     - {_type_name(annotation)}',
            f'     - {default}',
            f'     - {field.description or ""}',
        ]
    return rows


def write_reference(app):
    from aiida_mlip_autopipe.campaign.config import CampaignConfig, _Overrides, protocol_presets

    presets = {key for preset in protocol_presets().values() for key in preset if key != 'description'}
    lines = [
        '.. list-table:: Fields of the campaign file',
        '   :header-rows: 1',
        '   :widths: 25 15 15 45',
        '',
        '   * - field',
        '     - type',
        '     - default',
        '     - meaning',
        *_rows(CampaignConfig, '', presets, _Overrides),
    ]
    Path(app.srcdir, 'campaign_fields.rst').write_text('\n'.join(lines) + '\n')


def setup(app):
    app.connect('builder-inited', write_reference)
    return {'parallel_read_safe': True}
