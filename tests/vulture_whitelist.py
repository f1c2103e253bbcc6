"""Names vulture cannot see used (`[tool.vulture]` in pyproject.toml; tests/test_dead_code.py).

Reviewed by hand: each group says why its names are alive. Add a name here only with a reason. Code that
only the tests call is dead and goes (as `accept_ack_wanted`, `strip_bom` and `is_presentation_message`
went), unless it is a deliberate part of a public type or a test seam, listed last with its reason.
"""

from vulture.whitelist_utils import Whitelist

_ = Whitelist()

# ORM columns: written by the domain, read by SQL, exports and people with database access,
# not by attribute name in Python
_.accepted_suggestions  # variable, adapters/fhir/models.py
_.detected_at  # variable, adapters/fhir/models.py
_.first_issued_at  # variable, adapters/fhir/models.py
_.last_event_at  # variable, adapters/fhir/models.py
_.last_heartbeat_at  # variable, adapters/fhir/models.py
_.outcome_at  # variable, adapters/fhir/models.py
_.queued_at  # variable, adapters/fhir/models.py
_.user_comment  # variable, adapters/fhir/models.py
_.first_step_id  # variable, notifications/models.py
_.keyword  # variable, notifications/models.py
_.last_error  # variable, store/outbox.py
_.updated_by  # attribute, workflows/discharge.py
_.agreed_by  # attribute, workflows/intake.py
_.asked_at  # variable, workflows/models.py
_.asked_by  # variable, workflows/models.py
_.confirmed_by  # variable, workflows/models.py

# Enum values: received from outside or stored, matched by value (a member never named in code
# still parses and validates)
_.CONDITION  # variable, adapters/fhir/ingest.py
_.OBSERVATION  # variable, adapters/fhir/ingest.py
_.RELATED_PERSON  # variable, adapters/fhir/ingest.py
_.ENTERED_IN_ERROR  # variable, adapters/fhir/models.py
_.HANDSHAKE  # variable, adapters/fhir/models.py
_.OFF  # variable, adapters/fhir/models.py
_.FATAL  # variable, adapters/fhir/outcome.py
_.DISCHARGE_PLAN  # variable, consent/service.py
_.DESCRIPTOR  # variable, detection/configuration.py
_.EN  # variable, detection/configuration.py
_.FALSE_FRIEND  # variable, detection/configuration.py
_.INJURY  # variable, detection/configuration.py
_.NEGATION_POST  # variable, detection/configuration.py
_.NEGATION_PRE  # variable, detection/configuration.py
_.NL  # variable, detection/configuration.py
_.PART  # variable, detection/configuration.py
_.PSEUDO_NEGATION  # variable, detection/configuration.py
_.CARE_RELATIONSHIP  # variable, notifications/melding.py
_.SAFETY_OF_CHILD_OR_FAMILY  # variable, notifications/melding.py
_.SAFETY_OF_MELDER  # variable, notifications/melding.py
_.ALL  # variable, notifications/roster.py
_.CREATE  # variable, store/audit.py
_.DELETE  # variable, store/audit.py
_.LOGIN_FAILED  # variable, store/audit.py
_.LOGOUT  # variable, store/audit.py
_.BREAK_GLASS  # variable, store/audit.py
_.DENIED  # variable, store/audit.py
_.EXPORT  # variable, store/audit.py
_.FAMILY_OR_FRIENDS  # variable, workflows/schemas.py
_.GEEN_ZORGEN  # variable, workflows/schemas.py
_.HUISARTS  # variable, workflows/schemas.py
_.HULP_ORGANISEREN  # variable, workflows/schemas.py
_.SHELTER_STERK_HUIS  # variable, workflows/schemas.py
_.UNSURE  # variable, workflows/schemas.py
_.VROUWENOPVANG  # variable, workflows/schemas.py
_.WIJKTEAM  # variable, workflows/schemas.py

# Pydantic/response fields and template context: read by FastAPI's serializer or Jinja, not by
# Python attribute access
_.token_type  # variable, adapters/fhir/cds/services.py
_.banner  # variable, gateway/pages/views.py
_.field_errors  # variable, gateway/pages/views.py
_.children_consent  # variable, gateway/pages/case_view.py: read by the case template
_.consulted  # variable, workflows/schemas.py
_.present_at_home  # variable, workflows/schemas.py
_.intake_time  # variable, workflows/views_consent.py
_.legal_bases  # variable, workflows/views_consent.py
_.patient_identity  # variable, workflows/views_consent.py
_.withheld  # variable, workflows/views_consent.py
_.case_version  # variable, workflows/views_intake.py
_.confirmed  # variable, workflows/views_workflow.py
_.discharge_check_complete  # variable, workflows/views_workflow.py
_.discharge_check_missing  # variable, workflows/views_workflow.py
_.pending_timers  # variable, workflows/views_workflow.py

# Counters and state kept for operators and tests to observe (no code path reads them back)
_.fetches  # attribute, adapters/fhir/cds/auth.py
_.control_ids_reused  # attribute, adapters/hl7/receiver.py
_.duplicates  # attribute, adapters/hl7/receiver.py
_.rejected  # attribute, adapters/hl7/receiver.py
_.acks_sent  # variable, adapters/hl7/server.py
_.client_cert_subject  # variable, adapters/hl7/server.py
_.connections_active  # variable, adapters/hl7/server.py
_.connections_opened  # variable, adapters/hl7/server.py
_.frames_past_deadline  # variable, adapters/hl7/server.py
_.handler_errors  # variable, adapters/hl7/server.py
_.idle_closes  # variable, adapters/hl7/server.py
_.incomplete_frames  # variable, adapters/hl7/server.py
_.messages_received  # variable, adapters/hl7/server.py
_.oversized_messages  # variable, adapters/hl7/server.py
_.last_error  # attribute, gateway/outbox_runner.py
_.restarts  # variable, gateway/supervisor.py
_.batches  # attribute, store/group_commit.py

# Attributes a library reads (uvicorn, kombu, SQLAlchemy)
_.should_exit  # attribute, gateway/serve.py
_.polling_interval  # attribute, gateway/worker.py
_.isolation_level  # attribute, store/db.py

# Fields of parsed input models: part of the model even where no rule reads them yet
_.acked_control_id  # variable, adapters/hl7/ack.py
_.message_structure  # variable, adapters/hl7/msh.py
_.discharge_disposition  # variable, detection/models.py
_.discharged_at  # variable, detection/models.py
_.facility  # variable, detection/models.py
_.family_own  # variable, detection/models.py
_.family_prefix  # variable, detection/models.py
_.system_uri  # variable, detection/models.py
_.outgoing_dir  # variable, notifications/config.py

# Small public interfaces kept on purpose (reviewed)
_.connected  # property, adapters/hl7/client.py: the `send` client's state, part of its interface
_.buffered_bytes  # property, adapters/hl7/framing.py: the bound on a partial frame, observable
_.field_separator  # property, adapters/hl7/msh.py: a header field like the others
_.has  # method, adapters/hl7/parser.py: the segment accessor's own presence test
_.serve_forever  # method, adapters/hl7/server.py: the asyncio-server shape `serve` and tools use
_.ManualClock  # class, core/clock.py: the Clock implementation tests and drills inject
_.set_offset  # method, core/clock.py: ditto (a drill shifts the clock of a running part)
_.is_emergency  # property, detection/models.py: part of the Encounter model
_.who_is_on_call  # function, notifications/service.py: roster plus the API's overrides, for pages
_.read_anchors  # function, store/audit.py: anchor-file reader of the audit check (issue in progress)
_.anchors_checked  # variable, store/audit.py: part of the audit check's report

_.ValueClass  # attribute, core/metrics.py: prometheus-client reads it when it creates a metric's value
_.WORKER  # enum member, gateway/cli.py: `spoedplein health worker` (typer reads the members)
_.BEAT  # enum member, gateway/cli.py: `spoedplein health beat`

# Side-effect imports: importing the module registers its handlers and periodic jobs
_.adapters  # import, gateway/handlers.py
_.notifications  # import, gateway/handlers.py

# Landed by others while this check was introduced; for their owners to review (remove or use)
_.ENUM_TABLES  # variable, gateway/pages/labels.py: the table-coverage test walks it
_.STATE_NL  # variable, gateway/pages/labels.py: compatibility alias, "kept so callers keep working"
_.SEVERITY_NL  # variable, gateway/pages/labels.py: ditto
_.EVENT_NL  # variable, gateway/pages/labels.py: ditto
_.DISMISS_REASON_NL  # variable, gateway/pages/labels.py: ditto
_.page_state  # variable, workflows/board.py: board row field, read by the page template
_.delivery  # variable, workflows/board.py: ditto
_.discharged_without_check  # variable, workflows/board.py: ditto
_.last_step_at  # property, workflows/board.py: ditto
_.holds  # method, workflows/figures.py
_.Caller  # class, core/deps.py: identity work in progress
_.session_idle_minutes  # variable, core/settings.py: identity work in progress (session lifetime)
_.session_absolute_hours  # variable, core/settings.py: ditto
# identity/ is in vulture's paths since the OIDC/SMART login (its settings are read there); names of
# identity's own that are waiting for their first user, for identity's owner to review
_.PagePrincipalDep  # variable, identity/deps.py: the pages' dependency, documented in its module
_.PASSWORD_TOTP  # variable, identity/models.py: identity work in progress (TOTP second factor)
_.PAGE_LINK  # variable, identity/models.py: identity work in progress (page links)
_.verify_chain  # function, store/audit.py: only tests call it now (`audit verify` is the tool); review
_.csrf_secret  # variable, identity/models.py: NOT NULL column still written; CSRF is the middleware's now
_.granted_at  # variable, workflows/models.py: ORM column (when the glass was broken), read by operators
