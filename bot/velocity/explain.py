"""The words that say what each velocity figure is computed from, in the vendor's locale (fr, en)."""

from __future__ import annotations

from babel.numbers import format_decimal

from bot.velocity.rates import PEAK_WINDOW_S, Pace, Peak
from bot.velocity.stock import StockOut
from locales import babel_locale, clock, normalise

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "pace": "{orders} commande(s) en {minutes} min, de {start} à {end}",
        "session": "live commencé à {start} (première commande après {gap} min sans commande)",
        "no_session": "aucun live en cours : pas de commande depuis {gap} min",
        "given_session": "live commencé à {start}",
        "peak": "pic : {recent} cmd/min sur les {window} dernières min, {ratio} le rythme du live "
                "({baseline} cmd/min de {start} à {cut})",
        "peak_from_zero": "pic : {recent} cmd/min sur les {window} dernières min, après un live sans commande",
        "no_peak": "pas de pic : {recent} cmd/min sur les {window} dernières min contre {baseline} cmd/min "
                   "de {start} à {cut}",
        "no_baseline": "pas encore de référence : il faut {need} min de live avant les {window} dernières min",
        "sold_out": "épuisé",
        "stockout": "rupture dans ~{orders} commande(s)",
        "stockout_minutes": "rupture dans ~{orders} commande(s) (~{minutes} min au rythme actuel)",
        "stockout_basis": "{stock} en stock ÷ {units} article(s) par commande ; {rate} cmd/min pour ce produit "
                          "({orders} en {minutes} min)",
        "off": "prévisions désactivées pour ce vendeur (réglage sales_velocity)",
    },
    "en": {
        "pace": "{orders} order(s) in {minutes} min, from {start} to {end}",
        "session": "live started at {start} (first order after {gap} min without any)",
        "no_session": "no live going on: no order for {gap} min",
        "given_session": "live started at {start}",
        "peak": "peak: {recent} orders/min over the last {window} min, {ratio} the live's pace "
                "({baseline} orders/min from {start} to {cut})",
        "peak_from_zero": "peak: {recent} orders/min over the last {window} min, after a live with no order",
        "no_peak": "no peak: {recent} orders/min over the last {window} min against {baseline} orders/min "
                   "from {start} to {cut}",
        "no_baseline": "no reference yet: it takes {need} min of live before the last {window} min",
        "sold_out": "sold out",
        "stockout": "out of stock in ~{orders} order(s)",
        "stockout_minutes": "out of stock in ~{orders} order(s) (~{minutes} min at the current pace)",
        "stockout_basis": "{stock} in stock ÷ {units} unit(s) per order; {rate} orders/min for this product "
                          "({orders} in {minutes} min)",
        "off": "forecasts switched off for this vendor (setting sales_velocity)",
    },
}


class Words:
    """Velocity wording and number formatting for one locale and time zone."""

    def __init__(self, locale: str, timezone: str = "Africa/Dakar") -> None:
        self.locale = normalise(locale)
        self.timezone = timezone
        self.words = WORDS[self.locale]

    def number(self, value: float) -> str:
        return format_decimal(round(value, 1), format="#,##0.#", locale=babel_locale(self.locale))

    def time(self, ts: float) -> str:
        return clock(ts, self.locale, self.timezone)

    def say(self, key: str, **values: object) -> str:
        return self.words[key].format(**values)

    def pace(self, p: Pace) -> str:
        return self.say("pace", orders=p.orders, minutes=self.number(p.minutes), start=self.time(p.start),
                        end=self.time(p.end))

    def peak(self, p: Peak, need_s: float) -> str:
        window = self.number(p.recent.minutes)
        recent = self.number(p.recent.per_minute)
        if p.baseline is None:
            return self.say("no_baseline", need=self.number(need_s / 60), window=self.number(PEAK_WINDOW_S / 60))
        if p.ratio is None:
            return self.say("peak_from_zero" if p.active else "no_peak", recent=recent, window=window, baseline="0",
                            start=self.time(p.baseline.start), cut=self.time(p.baseline.end))
        return self.say("peak" if p.active else "no_peak", recent=recent, window=window,
                        ratio=f"×{self.number(p.ratio)}", baseline=self.number(p.baseline.per_minute),
                        start=self.time(p.baseline.start), cut=self.time(p.baseline.end))

    def stockout(self, s: StockOut) -> tuple[str, str]:
        """The headline ("rupture dans ~8 commandes") and what it is computed from."""
        if s.stock == 0:
            text = self.say("sold_out")
        elif s.minutes_left is None:
            text = self.say("stockout", orders=s.orders_left)
        else:
            text = self.say("stockout_minutes", orders=s.orders_left, minutes=self.number(max(s.minutes_left, 0.1)))
        basis = self.say("stockout_basis", stock=s.stock, units=self.number(s.units_per_order),
                         rate=self.number(s.pace.per_minute), orders=s.pace.orders,
                         minutes=self.number(s.pace.minutes))
        return text, basis
