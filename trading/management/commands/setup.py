from django.core.management.base import BaseCommand, CommandError

from trading.services.setup import SetupError, setup_run


class Command(BaseCommand):
    help = (
        "Bring the database to a working configuration (run after migrate): periodic "
        "schedule, exchanges and markets from the environment, their rules and fees read from "
        "the exchanges, risk settings. Idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-schedule", action="store_true",
            help="Restore periodic tasks edited in the admin to the schedule in code.",
        )
        parser.add_argument(
            "--skip-exchange-rules", action="store_true",
            help="Do not read the exchanges' market rules and fee rates (offline).",
        )

    def handle(self, *args, **options):
        try:
            report = setup_run(reset_schedule=options["reset_schedule"],
                               read_rules=not options["skip_exchange_rules"])
        except SetupError as exc:
            raise CommandError(str(exc)) from exc
        for line in report.created:
            self.stdout.write(self.style.SUCCESS(f"created   {line}"))
        for line in report.updated:
            self.stdout.write(self.style.WARNING(f"updated   {line}"))
        for line in report.problems:
            self.stdout.write(self.style.WARNING(f"problem   {line}"))
        self.stdout.write(
            f"setup done: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} already in place"
        )
