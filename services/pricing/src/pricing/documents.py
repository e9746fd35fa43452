"""The JSON documents the pricing service prints and serves: bars and corporate actions
in the `prices fetch --json` shape (also used by `GET /bars/{symbol}`)."""

from __future__ import annotations

from typing import Any

from pricing.domain.bars import CorporateAction, FetchResult, PriceBar


def action_json(action: CorporateAction) -> dict[str, Any]:
    if action.ratio is not None:
        return {"type": "split", "date": action.ex_date.isoformat(), "ratio": action.ratio}
    return {"type": "dividend", "date": action.ex_date.isoformat(), "amount": action.amount}


def number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def bar_json(bar: PriceBar) -> dict[str, Any]:
    row: dict[str, Any] = (
        {"ts": bar.ts.isoformat().replace("+00:00", "Z")}
        if bar.ts is not None
        else {"date": bar.trading_date.isoformat()}
    )
    row.update(
        open=bar.open,
        high=bar.high,
        low=bar.low,
        close=bar.close,
        adj_close=bar.adj_close,
        volume=number(bar.volume),
    )
    if bar.is_partial:
        row["partial"] = True
    return row


def result_json(result: FetchResult) -> dict[str, Any]:
    """The `prices fetch --json` document for one provider result."""
    actions = [action_json(a) for a in result.actions]
    return {
        "symbol": result.symbol,
        "provider": result.provider,
        "interval": result.interval.value,
        "basis": result.basis.value,
        "currency": result.currency,
        "synthetic": result.synthetic,
        "bars": [bar_json(b) for b in result.bars],
        "actions": actions,
        "skipped": [{"row": s.position, "reason": s.reason} for s in result.skipped],
    }
