"""Custom actions of the microfinance example, written with rasa-sdk.

Run them in Palabre's process (`PALABRE_ACTIONS=examples.actions.microfinance`) or on a rasa-sdk
action server (`python -m rasa_sdk --actions examples.actions.microfinance`, then
`PALABRE_ACTION_ENDPOINT=http://127.0.0.1:5055/webhook
PALABRE_REMOTE_ACTIONS=action_account_balance,validate_loan_form`).
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

# A stand-in for the institution's core banking system: balances by phone number (E.164).
ACCOUNTS = {"+221770000001": 152_500, "+221770000002": 0}


def _phone(tracker: Tracker) -> str:
    # Palabre's sender id is the conversation key, "vendor:channel:address"
    return tracker.sender_id.rsplit(":", 1)[-1]


class AccountBalance(Action):
    """The buyer's account balance, looked up by the phone number they write from."""

    def name(self) -> str:
        return "action_account_balance"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: dict[str, Any]) -> list[dict[str, Any]]:
        balance = ACCOUNTS.get(_phone(tracker))
        return [SlotSet("balance", balance), SlotSet("has_account", balance is not None)]


class ValidateLoanForm(FormValidationAction):
    """Checks of the loan application that need the institution's rules."""

    def name(self) -> str:
        return "validate_loan_form"

    def validate_income(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                        domain: dict[str, Any]) -> dict[str, Any]:
        amount, months = tracker.get_slot("amount") or 0, tracker.get_slot("months") or 1
        monthly = amount / months
        if value is None or value < 2 * monthly:
            dispatcher.utter_message(
                text=f"Avec ce revenu, la mensualité ({round(monthly):,} F CFA) dépasserait la moitié de "
                     "vos revenus.".replace(",", " "))
            return {"income": None}
        return {"income": value}
