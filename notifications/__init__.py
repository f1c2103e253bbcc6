"""Rosters, escalation, channels, signed acknowledgement links, Veilig Thuis melding."""
