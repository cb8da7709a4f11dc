"""B2B quotes: the PDF document, its HTTP route and the dialog actions (quote, order on terms)."""
