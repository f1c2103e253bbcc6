"""The physician's case pages: login and the launchable case page the CDS Hooks cards link to."""
